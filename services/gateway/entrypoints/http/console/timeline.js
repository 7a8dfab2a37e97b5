// An issue's timeline, oldest first: its creation, each status its fixes entered (their
// statusHistory), and its reopenings when the failure came back (metadata.regressedAt).

import { h, when } from "./dom.js";

const FIX_STEPS = {
  draft: ["✎", "Fix drafted"], proposed: ["◐", "Fix proposed"], testing: ["◑", "Fix in testing"],
  applied: ["✔", "Fix applied, so the issue closed"], rejected: ["✖", "Fix rejected"],
};

export function timelineEvents(issue, fixes) {
  const events = [{ at: issue.createdAt, kind: "created", icon: "○",
    text: issue.source === "clustering" ? "Issue created by clustering" : "Issue created" }];
  for (const fix of [...fixes].reverse()) {
    for (const entry of fix.statusHistory || []) {
      const [icon, text] = FIX_STEPS[entry.status];
      events.push({ at: entry.enteredAt, kind: `fix-${entry.status}`, icon, text, fix });
    }
  }
  const applied = fixes.some((fix) => fix.status === "applied");
  if (issue.status === "closed" && !applied) {
    events.push({ at: issue.updatedAt, kind: "closed", icon: "●", text: "Issue closed by hand (as of its last change)" });
  }
  const { regressedAt, regressionCount } = issue.metadata;
  if (regressedAt) {
    const times = regressionCount > 1 ? ` (reopened ${regressionCount} times; the last time shown)` : "";
    events.push({ at: regressedAt, kind: "regressed", icon: "↺", text: `Reopened: the failure came back${times}` });
  }
  return events.map((event, order) => ({ ...event, order }))
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.order - b.order);
}

export function timelineView(issue, fixes) {
  return h("ol", { className: "timeline", "aria-label": "What happened, oldest first" },
    timelineEvents(issue, fixes).map((event) => h("li", { "data-event": event.kind },
      h("time", { datetime: event.at }, when(event.at)), " ",
      h("span", { "aria-hidden": "true", className: "mark" }, event.icon), " ", event.text,
      event.fix ? [": ", h("a", { href: `#/fixes/${encodeURIComponent(event.fix.id)}` }, event.fix.description)] : null)));
}
