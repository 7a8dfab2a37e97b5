// Proposing a fix: one form per type, each saying what its `changes` do at replay.

import { explain, post } from "./api.js";
import { field, h, replace } from "./dom.js";
import { promptDiffView } from "./prompt-diff.js";

const TYPES = {
  prompt_update: {
    label: "Prompt update",
    explain: "Changes the system prompt the trace was recorded with. Either a diff, one line per change: " +
      "“- ” and a line of the prompt to remove, “+ ” and a line to add in its place; or a whole new system prompt.",
    fields: () => [
      field("Prompt diff", h("textarea", { name: "promptDiff", rows: 5, spellcheck: "false",
        placeholder: "- Answer refund questions.\n+ Answer refund questions from the current policy." }),
      "Each line starts with “- ” (remove this line) or “+ ” (add this line). A “- ” line the prompt does not " +
      "have makes that trace's replay an error. Leave empty to give a whole new prompt below."),
      field("Or a whole new system prompt", h("textarea", { name: "systemPrompt", rows: 3 })),
    ],
    changes: (v) => (v.promptDiff.trim() ? { promptDiff: v.promptDiff.replace(/\s+$/, "") }
      : { systemPrompt: v.systemPrompt }),
  },
  config_change: {
    label: "Config change",
    explain: "Overrides the model and its parameters at replay; give at least one. Empty fields keep the trace's own.",
    fields: () => [
      field("Model", h("input", { name: "model", placeholder: "gpt-4o" })),
      field("Temperature (0 to 2)", h("input", { name: "temperature", type: "number", min: 0, max: 2, step: "any" })),
      field("Top p (above 0, at most 1)", h("input", { name: "topP", type: "number", min: 0, max: 1, step: "any" })),
      field("Max tokens", h("input", { name: "maxTokens", type: "number", min: 1, step: 1 })),
    ],
    changes: (v) => {
      const changes = {};
      if (v.model.trim()) changes.model = v.model.trim();
      for (const name of ["temperature", "topP", "maxTokens"]) if (v[name] !== "") changes[name] = Number(v[name]);
      return changes;
    },
  },
  retrieval_update: {
    label: "Retrieval update",
    explain: "Edits the context documents the trace retrieved: replace a document by its id, add one, or remove " +
      "some by id. Give at least one.",
    fields: () => [
      field("Replace document: id", h("input", { name: "replaceId", placeholder: "refund-policy" })),
      field("Replace document: new content", h("textarea", { name: "replaceContent", rows: 3 })),
      field("Add document: id", h("input", { name: "addId" })),
      field("Add document: content", h("textarea", { name: "addContent", rows: 3 })),
      field("Remove documents", h("input", { name: "remove" }), "Document ids, separated by commas."),
    ],
    changes: (v) => {
      const changes = {};
      if (v.replaceId.trim()) changes.replace = [{ id: v.replaceId.trim(), content: v.replaceContent }];
      if (v.addId.trim()) changes.add = [{ id: v.addId.trim(), content: v.addContent }];
      const remove = v.remove.split(",").map((id) => id.trim()).filter(Boolean);
      if (remove.length) changes.remove = remove;
      return changes;
    },
  },
  guardrail: {
    label: "Guardrail",
    explain: "A rule on the produced answer; when it triggers, the fallback is answered instead. Block pattern: " +
      "triggers when the pattern (RE2 syntax) matches; require pattern: when it does not; max length: past that " +
      "many characters.",
    fields: () => [
      field("Rule", h("select", { name: "rule" }, [["block_pattern", "block pattern"],
        ["require_pattern", "require pattern"], ["max_length", "max length"]]
        .map(([value, label]) => h("option", { value }, label)))),
      field("Pattern", h("input", { name: "pattern", placeholder: "60 days" }), "For the pattern rules."),
      field("Ignore case", h("input", { name: "ignoreCase", type: "checkbox" })),
      field("Max length", h("input", { name: "maxLength", type: "number", min: 1 }), "For the max length rule."),
      field("Fallback answer", h("textarea", { name: "fallback", rows: 2, required: true })),
    ],
    changes: (v) => (v.rule === "max_length"
      ? { rule: v.rule, maxLength: Number(v.maxLength), fallback: v.fallback }
      : { rule: v.rule, pattern: v.pattern, ignoreCase: v.ignoreCase === "on", fallback: v.fallback }),
  },
  tool_update: {
    label: "Tool update",
    explain: "Changes the tools offered to an agent that calls tools, when its runs are replayed with their " +
      "recorded tool results: a tool's new description, tools to remove, and answers (stubs) for tools the " +
      "recorded runs never called, which otherwise make a replay diverge. Give at least one change.",
    fields: () => [
      field("Tool to describe anew: name", h("input", { name: "updateName", placeholder: "search_faq" })),
      field("Its new description", h("textarea", { name: "updateDescription", rows: 3 })),
      field("Remove tools", h("input", { name: "remove" }), "Tool names, separated by commas."),
      field("Stub: tool name", h("input", { name: "stubName", placeholder: "escalate_to_human" }),
        "A tool the recorded runs never called; its calls get the result below."),
      field("Stub: result", h("textarea", { name: "stubResult", rows: 2 })),
    ],
    changes: (v) => {
      const changes = {};
      if (v.updateName.trim()) changes.update = [{ name: v.updateName.trim(), description: v.updateDescription }];
      const remove = v.remove.split(",").map((name) => name.trim()).filter(Boolean);
      if (remove.length) changes.remove = remove;
      if (v.stubName.trim()) changes.toolStubs = { [v.stubName.trim()]: { result: v.stubResult } };
      return changes;
    },
  },
};

export function fixForm(issue) {
  const type = h("select", { name: "type", id: "fix-type" },
    Object.entries(TYPES).map(([value, spec]) => h("option", { value }, spec.label)));
  const explanation = h("p", { className: "hint", id: "fix-type-explanation", "aria-live": "polite" });
  const specific = h("fieldset", { className: "changes" });
  const preview = h("div", { className: "preview" });
  const problem = h("p", { className: "notice notice-error", role: "alert", hidden: true });
  const form = h("form", { className: "fix-form" },
    field("Type", type), explanation,
    field("Description", h("textarea", { name: "description", rows: 2, required: true }), "What the fix changes, and why."),
    specific, preview, problem, h("button", { type: "submit" }, "Create fix (as draft)"));
  const showType = () => {
    const spec = TYPES[type.value];
    explanation.textContent = spec.explain;
    replace(specific, h("legend", {}, `Changes of a ${spec.label.toLowerCase()}`), spec.fields());
    replace(preview);
  };
  type.addEventListener("change", showType);
  form.addEventListener("input", (event) => {
    if (event.target.name === "promptDiff") {
      replace(preview, event.target.value.trim() ? [h("h4", {}, "Preview"), promptDiffView(event.target.value)] : null);
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const body = { issueId: issue.id, type: values.type, description: values.description,
      changes: TYPES[values.type].changes(values) };
    try {
      const { data } = await post("/api/fixes", body);
      location.hash = `#/fixes/${encodeURIComponent(data.id)}`;
    } catch (error) {
      problem.hidden = false;
      problem.textContent = explain(error);
    }
  });
  showType();
  return form;
}
