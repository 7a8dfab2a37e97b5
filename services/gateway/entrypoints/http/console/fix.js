// A fix: its changes, its moves through the state machine (the forbidden ones explained), its
// shadow tests, and the form that starts a new one.

import { ApiError, explain, get, patch, post } from "./api.js";
import { badge, field, h, replace, when } from "./dom.js";
import { fail, tell } from "./notice.js";
import { promptDiffView } from "./prompt-diff.js";

// The fixes service's state machine (services/fixes/domain/model.py); the API has the last word (409).
const MOVES = {
  draft: ["proposed", "rejected"],
  proposed: ["testing", "rejected"],
  testing: ["applied", "rejected", "proposed"],
  applied: [],
  rejected: [],
};
const STATUSES = ["draft", "proposed", "testing", "applied", "rejected"];
const WHY_NOT = {
  draft: "a fix never goes back to draft",
  proposed: "only a draft is proposed, or a fix in testing sent back",
  testing: "only a proposed fix goes into testing; starting a shadow test moves it there",
  applied: "only a fix in testing can be applied: test it first",
  rejected: "",
};

export async function showFix(view, fixId) {
  const path = `/api/fixes/${encodeURIComponent(fixId)}`;
  const { data: fix, etag } = await get(path);
  const issue = fix.issueId ? (await get(`/api/v2/issues/${encodeURIComponent(fix.issueId)}`)).data : null;
  const reload = () => showFix(view, fixId);

  replace(view,
    h("p", { className: "crumbs" }, h("a", { href: "#/issues" }, "Issues"), " / ",
      issue ? h("a", { href: `#/issues/${encodeURIComponent(issue.id)}` }, issue.title) : "issue deleted", " / ", fix.id),
    h("h1", { tabindex: "-1" }, fix.description),
    h("dl", { className: "meta" },
      h("div", {}, h("dt", {}, "Status"), h("dd", {}, badge(fix.status))),
      h("div", {}, h("dt", {}, "Type"), h("dd", {}, fix.type.replace("_", " "))),
      h("div", {}, h("dt", {}, "Author"), h("dd", {}, fix.author)),
      h("div", {}, h("dt", {}, "Created"), h("dd", {}, when(fix.createdAt))),
      h("div", {}, h("dt", {}, "Updated"), h("dd", {}, when(fix.updatedAt)))),
    h("section", { "aria-labelledby": "changes-title" }, h("h2", { id: "changes-title" }, "Changes"), changesView(fix)),
    h("section", { "aria-labelledby": "moves-title" }, h("h2", { id: "moves-title" }, "Status"),
      movesView(fix, etag, path, reload)),
    h("section", { "aria-labelledby": "tests-title" }, h("h2", { id: "tests-title" }, "Shadow tests"),
      fix.shadowTests.length
        ? h("ul", { className: "tests" }, fix.shadowTests.map((test) => h("li", {},
          h("a", { href: `#/shadow-tests/${encodeURIComponent(test.id)}` }, test.id), " ", badge(test.status),
          test.improvementRate === null || test.improvementRate === undefined ? ""
            : ` improvement rate ${percent(test.improvementRate)}`,
          test.recommendation ? [" · recommendation ", badge(test.recommendation)] : null)))
        : h("p", { className: "empty" }, "Not tested yet."),
      issue && !["applied", "rejected"].includes(fix.status) ? startForm(fix, issue) : null));
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

function changesView(fix) {
  if (fix.type === "prompt_update" && fix.changes.promptDiff) return promptDiffView(fix.changes.promptDiff);
  return h("pre", { className: "json" }, JSON.stringify(fix.changes, null, 2));
}

function movesView(fix, etag, path, reload) {
  const allowed = MOVES[fix.status];
  const buttons = allowed.map((status) => {
    const button = h("button", { type: "button", className: status === "rejected" ? "danger" : "" },
      `Move to ${status}`);
    button.addEventListener("click", async () => {
      try {
        await patch(path, { status }, etag);
      } catch (error) {
        if (error instanceof ApiError && error.status === 412) {
          await reload();
          return tell("Someone changed this fix after you opened it; nothing was moved. Here is its current state.",
            "error");
        }
        if (error instanceof ApiError && error.status === 409) return tell(`Not allowed: ${explain(error)}`, "error");
        return fail(error);
      }
      await reload();
      tell(`The fix is ${status} now.`, "success");
    });
    return button;
  });
  const forbidden = STATUSES.filter((status) => status !== fix.status && !allowed.includes(status));
  return h("div", { className: "moves" },
    allowed.length ? h("div", { className: "buttons" }, buttons)
      : h("p", {}, `${fix.status} is final: the fix does not move any more.`),
    forbidden.length && allowed.length ? h("div", { className: "hint" }, `Not possible from ${fix.status}:`,
      h("ul", { className: "forbidden" }, forbidden.map((status) => h("li", {}, h("strong", {}, status), ": ",
        WHY_NOT[status])))) : null);
}

function startForm(fix, issue) {
  const boxes = issue.traceIds.map((traceId) => h("label", { className: "check" },
    h("input", { type: "checkbox", name: "traceIds", value: traceId, checked: true }), " ", traceId));
  const problem = h("p", { className: "notice notice-error", role: "alert", hidden: true });
  const form = h("form", { className: "card start-test" },
    h("h3", {}, "Start a shadow test"),
    h("p", { className: "hint" }, "Replays the chosen traces with this fix applied, then scores the recorded answer " +
      "against the new one. Starting one puts the fix (and its issue) in testing."),
    h("fieldset", {}, h("legend", {}, "The issue's traces"),
      boxes.length ? boxes : h("p", { className: "empty" }, "The issue has no traces: a shadow test needs at least one.")),
    field("Control traces", h("input", { name: "controlTraceIds", placeholder: "tr_ok_1, tr_ok_2" }),
      "Ids of traces outside the issue that went right, separated by commas: replayed beside the issue's and " +
      "counted apart; a fix that breaks them is not recommended for shipping."),
    field("Scoring", h("select", { name: "comparisonMode" },
      h("option", { value: "side_by_side" }, "side by side (the judge model compares both answers)"),
      h("option", { value: "automated" }, "automated (against each trace's expected answer)"))),
    problem, h("button", { type: "submit" }, "Start shadow test"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const controlTraceIds = [...new Set(String(data.get("controlTraceIds")).split(",").map((id) => id.trim())
      .filter(Boolean))];
    const traceIds = data.getAll("traceIds");
    if (!traceIds.length) {
      problem.hidden = false;
      problem.textContent = "Choose at least one of the issue's traces.";
      return;
    }
    try {
      const { data: test } = await post("/api/shadow-tests",
        { fixId: fix.id, traceIds, config: { comparisonMode: data.get("comparisonMode"), controlTraceIds } });
      location.hash = `#/shadow-tests/${encodeURIComponent(test.id)}`;
    } catch (error) {
      problem.hidden = false;
      problem.textContent = explain(error);
    }
  });
  return form;
}
