// An issue: its metadata (changed with If-Match and the ETag it was read with), its traces,
// its fixes, and the form to propose a new fix.

import { ApiError, get, patch } from "./api.js";
import { SEVERITIES, STATUSES, regressedMark } from "./board.js";
import { badge, field, h, replace, select, when } from "./dom.js";
import { fixForm } from "./fix-form.js";
import { fail, tell } from "./notice.js";
import { timelineView } from "./timeline.js";
import { traceView } from "./trace.js";

const TRACES_AT_ONCE = 10;

export async function showIssue(view, issueId) {
  const path = `/api/v2/issues/${encodeURIComponent(issueId)}`;
  const [{ data: issue, etag }, { data: fixes }] = await Promise.all([
    get(path), get("/api/fixes", { issueId, limit: 100 })]);

  const meta = h("dl", { className: "meta" },
    entry("Status", badge(issue.status), " ", regressedMark(issue.metadata)), entry("Severity", badge(issue.severity)),
    entry("Source", issue.source),
    entry("Agent", issue.agentName ? `${issue.agentName} (${issue.agentId})` : issue.agentId),
    entry("Traces", String(issue.traceCount)),
    entry("Affected customers", String(issue.metadata.affectedCustomers)),
    entry("First seen", when(issue.metadata.firstSeenAt)), entry("Last seen", when(issue.metadata.lastSeenAt)),
    entry("Created", when(issue.createdAt)), entry("Updated", when(issue.updatedAt)),
    entry("Tags", issue.tags.length ? issue.tags.map((tag) => h("span", { className: "tag" }, tag)) : "none"));

  const editor = editForm(issue, etag, path, () => showIssue(view, issueId));

  const fixList = fixes.length
    ? h("ul", { className: "fixes" }, fixes.map((fix) => h("li", {},
      h("a", { href: `#/fixes/${encodeURIComponent(fix.id)}` }, fix.description), " ",
      h("span", { className: "muted" }, fix.type.replace("_", " ")), " ", badge(fix.status))))
    : h("p", { className: "empty" }, "No fix proposed yet.");

  const traces = h("div", { className: "traces" });
  showTraces(traces, issue.traceIds, 0);

  replace(view,
    h("p", { className: "crumbs" }, h("a", { href: "#/issues" }, "Issues"), " / ", issue.id),
    h("h1", { tabindex: "-1" }, issue.title),
    h("p", { className: "description" }, issue.description),
    meta,
    h("section", { "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Timeline"),
      timelineView(issue, fixes)),
    h("section", { "aria-labelledby": "edit-title" }, h("h2", { id: "edit-title" }, "Change status, severity, tags"),
      editor),
    h("section", { "aria-labelledby": "fixes-title" }, h("h2", { id: "fixes-title" }, "Fixes"), fixList,
      h("details", { className: "card", open: fixes.length === 0 },
        h("summary", {}, "Propose a fix"), fixForm(issue))),
    h("section", { "aria-labelledby": "traces-title" },
      h("h2", { id: "traces-title" }, `Traces (${issue.traceCount})`), traces));
}

function entry(name, ...value) {
  return h("div", {}, h("dt", {}, name), h("dd", {}, value));
}

function editForm(issue, etag, path, reload) {
  const tags = h("input", { name: "tags", value: issue.tags.join(", ") });
  const form = h("form", { className: "inline-form" },
    field("Status", select("status", STATUSES.map((s) => [s, s.replace("_", " ")]), issue.status)),
    field("Severity", select("severity", SEVERITIES.map((s) => [s, s]), issue.severity)),
    field("Tags", tags, "Separated by commas."),
    h("button", { type: "submit" }, "Save changes"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const changes = {};
    if (values.status !== issue.status) changes.status = values.status;
    if (values.severity !== issue.severity) changes.severity = values.severity;
    const newTags = values.tags.split(",").map((tag) => tag.trim()).filter(Boolean);
    if (newTags.join("\n") !== issue.tags.join("\n")) changes.tags = newTags;
    if (!Object.keys(changes).length) return tell("Nothing to save: nothing was changed.");
    try {
      await patch(path, changes, etag);
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        await reload();
        return tell("Someone changed this issue after you opened it, so nothing was saved. The page now shows " +
          "the current version: check it and make your change again.", "error");
      }
      return fail(error);
    }
    await reload();
    tell("Saved.", "success");
  });
  return form;
}

function showTraces(container, traceIds, from) {
  const shown = traceIds.slice(from, from + TRACES_AT_ONCE);
  if (!traceIds.length) container.append(h("p", { className: "empty" }, "No trace linked to this issue."));
  for (const traceId of shown) {
    const slot = h("article", { className: "trace card", "data-trace": traceId }, h("h3", {}, traceId), "Loading…");
    container.append(slot);
    get(`/api/v2/traces/${encodeURIComponent(traceId)}`).then(
      ({ data }) => slot.replaceWith(traceView(data)),
      (error) => replace(slot, h("h3", {}, traceId), h("p", { className: "muted" },
        error.status === 404 ? "Not ingested (yet): the issue links it, the traces service has no such trace."
          : error.message)));
  }
  const rest = traceIds.length - from - shown.length;
  if (rest > 0) {
    const more = h("button", { type: "button", className: "secondary" }, `Show ${Math.min(rest, TRACES_AT_ONCE)} more`);
    more.addEventListener("click", () => { more.remove(); showTraces(container, traceIds, from + TRACES_AT_ONCE); });
    container.append(more);
  }
}
