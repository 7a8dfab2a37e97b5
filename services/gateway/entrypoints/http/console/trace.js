// One recorded trace: conversation, context documents, answer, expected answer, feedback.

import { h, when } from "./dom.js";

export function traceView(trace) {
  const messages = [];
  if (trace.systemPrompt) messages.push({ role: "system", content: trace.systemPrompt });
  messages.push(...trace.input);
  return h("article", { className: "trace card", "data-trace": trace.id },
    h("h3", {}, trace.id),
    h("p", { className: "muted" }, [trace.agentName || trace.agentId, trace.customerId && `customer ${trace.customerId}`,
      trace.model?.name, when(trace.timestamp), trace.status === "error" && "run failed"].filter(Boolean).join(" · ")),
    h("h4", {}, "Conversation"),
    h("ol", { className: "conversation" }, messages.map((message) => h("li", { className: `message role-${message.role}` },
      h("span", { className: "role" }, message.role), " ",
      message.content ?? "",
      (message.toolCalls || []).map((call) => h("code", { className: "tool-call" },
        `${call.function?.name || call.name}(${call.function?.arguments ?? ""})`))))),
    trace.context.length ? [h("h4", {}, "Context documents"), h("ul", { className: "documents" },
      trace.context.map((doc) => h("li", {}, h("strong", {}, doc.title || doc.id), " ",
        h("span", { className: "muted" }, doc.id), h("p", {}, doc.content))))] : null,
    h("div", { className: "answers" },
      h("div", {}, h("h4", {}, "Answer"), h("p", { className: "answer" }, trace.output)),
      h("div", {}, h("h4", {}, "Expected answer"), h("p", { className: "answer" }, trace.expectedOutput || "none given"))),
    trace.feedback ? h("p", { className: "feedback" }, h("strong", {}, "Feedback: "),
      trace.feedback.score !== null && trace.feedback.score !== undefined ? `score ${trace.feedback.score}. ` : "",
      trace.feedback.comment || "") : null);
}
