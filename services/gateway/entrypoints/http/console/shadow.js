// A shadow test: live progress while it runs (polling), its counts and improvement rate, once
// completed its recommendation and statistics, the control traces counted apart, and each
// trace's original and fixed answers side by side with a word-level diff, regressions first, and
// for a trace replayed with tools, the calls the fixed agent made and what each was answered.

import { get, patch } from "./api.js";
import { badge, h, replace, when } from "./dom.js";
import { wordDiff } from "./diff.js";
import { percent } from "./fix.js";
import { fail } from "./notice.js";

const POLL_MS = 1000;
const ORDER = { regressed: 0, errored: 1, diverged: 2, unchanged: 3, improved: 4 };
const VERDICTS = ["improved", "unchanged", "regressed", "errored", "diverged"];

export async function showShadowTest(view, testId) {
  const path = `/api/shadow-tests/${encodeURIComponent(testId)}`;
  const { data: first } = await get(path);
  const body = h("div", { className: "test-body" });
  replace(view,
    h("p", { className: "crumbs" }, h("a", { href: "#/issues" }, "Issues"), " / ",
      h("a", { href: `#/fixes/${encodeURIComponent(first.fixId)}` }, `fix ${first.fixId}`), " / ", first.id),
    h("h1", { tabindex: "-1" }, "Shadow test"), body);
  let timer = null;
  let shown = "";
  const render = (test) => {
    const signature = `${test.status}:${test.traceResults.length}:${controlResults(test).length}`;
    if (signature !== shown) { shown = signature; replace(body, testView(test, path, () => poll())); }
  };
  const poll = async () => {
    clearTimeout(timer);
    try {
      const { data } = await get(path);
      render(data);
      if (running(data)) timer = setTimeout(poll, POLL_MS);
    } catch (error) {
      fail(error);
      timer = setTimeout(poll, POLL_MS * 3);
    }
  };
  render(first);
  if (running(first)) timer = setTimeout(poll, POLL_MS);
  return () => clearTimeout(timer);
}

const running = (test) => test.status === "pending" || test.status === "running";
const controlResults = (test) => test.controlTraceResults || [];
const controlIds = (test) => test.config.controlTraceIds || [];
const regressionsFirst = (results) => [...results].sort((a, b) => ORDER[a.verdict] - ORDER[b.verdict]);

function testView(test, path, refresh) {
  const done = test.traceResults.length + controlResults(test).length;
  const total = test.traceCount + controlIds(test).length;
  const stop = h("button", { type: "button", className: "danger" }, "Stop this test");
  stop.addEventListener("click", async () => {
    try { await patch(path, { status: "failed", results: { error: "Stopped from the console" } }); refresh(); }
    catch (error) { fail(error); }
  });
  const results = regressionsFirst(test.traceResults);
  return [
    h("dl", { className: "meta" },
      h("div", {}, h("dt", {}, "Status"), h("dd", { id: "test-status" }, badge(test.status))),
      h("div", {}, h("dt", {}, "Scoring"), h("dd", {}, test.config.comparisonMode.replaceAll("_", " "))),
      h("div", {}, h("dt", {}, "Created"), h("dd", {}, when(test.createdAt))),
      h("div", {}, h("dt", {}, "Started"), h("dd", {}, when(test.startedAt))),
      h("div", {}, h("dt", {}, "Completed"), h("dd", {}, when(test.completedAt)))),
    h("div", { className: "progress" },
      h("label", { for: "test-progress" }, `${done} of ${total} traces done`),
      h("progress", { id: "test-progress", max: total, value: done }, `${done} of ${total}`),
      running(test) ? stop : null),
    test.results.error ? h("p", { className: "notice notice-error" }, `Stopped: ${test.results.error}`) : null,
    h("ul", { className: "verdict-counts", "aria-label": "Verdicts" }, VERDICTS.map((verdict) =>
      h("li", {}, badge(verdict), " ", h("strong", { "data-count": verdict }, String(test.results[verdict]))))),
    h("p", { className: "rate" }, "Improvement rate: ",
      h("strong", { id: "improvement-rate" }, percent(test.results.improvementRate)),
      h("span", { className: "muted" }, " (improved ÷ scored traces; errored and diverged traces are not scored)")),
    test.results.recommendation ? statisticsView(test.results) : null,
    h("h2", {}, "Per trace, regressions first"),
    results.length ? results.map(resultView) : h("p", { className: "empty" }, "No trace finished yet."),
    controlIds(test).length ? controlView(test) : null,
  ];
}

function statisticsView(results) {
  const figures = results.significance;
  return h("section", { className: "card statistics", "aria-labelledby": "recommendation-title" },
    h("h2", { id: "recommendation-title" }, "Recommendation: ",
      h("span", { id: "recommendation" }, badge(results.recommendation))),
    h("p", { id: "recommendation-reason" }, results.recommendationReason),
    h("dl", {},
      h("dt", {}, "Sign test p-value"), h("dd", { id: "p-value" }, figures.pValue.toPrecision(3)),
      h("dt", {}, "Improvement rate, 95% interval"), h("dd", {}, interval(figures.improvementRateCi95, percent)),
      h("dt", {}, "Mean score change, 95% interval"),
      h("dd", {}, `${score(figures.meanScoreChange)} ${interval(figures.meanScoreChangeCi95, score)}`),
      results.minimumTraces ? [h("dt", {}, "Traces that would decide"),
        h("dd", { id: "minimum-traces" }, String(results.minimumTraces))] : null),
    h("p", { className: "hint" }, "What these mean, and when to trust them: docs/statistics.md."));
}

function controlView(test) {
  const counts = test.results.control;
  const results = regressionsFirst(controlResults(test));
  return h("section", { className: "controls", "aria-labelledby": "controls-title" },
    h("h2", { id: "controls-title" }, "Control traces, counted apart"),
    counts ? h("ul", { className: "verdict-counts", "aria-label": "Control verdicts" }, VERDICTS.map((verdict) =>
      h("li", {}, badge(verdict), " ", h("strong", { "data-control-count": verdict }, String(counts[verdict])))))
      : null,
    results.length ? results.map(resultView) : h("p", { className: "empty" }, "No control trace finished yet."));
}

function interval(bounds, format) {
  return bounds ? `[${format(bounds[0])}, ${format(bounds[1])}]` : "—";
}

function resultView(result) {
  const parts = result.fixedOutput === null ? [] : wordDiff(result.originalOutput, result.fixedOutput);
  const side = (keep) => parts.filter((part) => part.op === "same" || part.op === keep).map((part) =>
    part.op === "same" ? part.text
      : h(part.op === "del" ? "del" : "ins", {},
        h("span", { className: "visually-hidden" }, part.op === "del" ? "[removed: " : "[added: "), part.text,
        h("span", { className: "visually-hidden" }, "]")));
  return h("article", { className: `result card verdict-${result.verdict}`, "data-trace": result.traceId },
    h("h3", {}, badge(result.verdict), " ", result.traceId),
    h("p", { className: "scores" }, `Score ${score(result.originalScore)} → ${score(result.fixedScore)}`,
      h("span", { className: "muted" }, ` · ${result.scoring.replaceAll("_", " ")} · ${result.latencyMs} ms`)),
    result.judgeAgreement ? agreementView(result.judgeAgreement) : null,
    h("div", { className: "side-by-side" },
      h("section", { "aria-label": "Original answer" }, h("h4", {}, "Original answer"),
        h("p", { className: "answer original" }, result.fixedOutput === null ? result.originalOutput : side("del"))),
      h("section", { "aria-label": "Fixed answer" }, h("h4", {}, "With the fix"),
        h("p", { className: "answer fixed" }, result.fixedOutput === null ? `no answer (${result.verdict})`
          : side("ins")))),
    h("p", { className: "explanation" }, h("strong", {}, "Why: "), result.explanation),
    result.replay ? replayView(result.replay) : null);
}

const SOURCES = { recorded: "recorded result", repeated: "recorded result, repeated call", stub: "the fix's stub" };

function replayView(replay) {
  const calls = replay.steps.map((step) =>
    h("li", { className: `step step-${step.status}` },
      h("code", {}, `${step.name}(${step.arguments})`), " → ",
      h("code", {}, typeof step.result === "string" ? step.result : JSON.stringify(step.result ?? step.error)),
      h("span", { className: "muted" }, ` · turn ${step.turn} · ${SOURCES[step.source]}` +
        (step.status === "error" ? " · tool error" : ""))));
  if (replay.divergedAt) {
    calls.push(h("li", { className: "step step-diverged" },
      h("code", {}, `${replay.divergedAt.name}(${replay.divergedAt.arguments})`), " → ",
      h("strong", {}, "never recorded: the replay stopped here")));
  }
  return h("details", { className: "replay" },
    h("summary", {}, `Replayed tool calls: ${replay.steps.length}, ${replay.modelCalls} model calls, ` +
      replay.outcome.replaceAll("_", " ")),
    calls.length ? h("ol", {}, calls) : h("p", { className: "empty" }, "The fixed agent called no tool."));
}

// side_by_side asks the judge twice, each answer shown first once; the scores are their mean.
function agreementView(agreement) {
  const order = (name, said) => [h("dt", {}, name),
    h("dd", {}, `original ${score(said.originalScore)}, fixed ${score(said.fixedScore)}: `, badge(said.verdict))];
  return h("details", { className: `agreement agreement-${agreement.agreed ? "agreed" : "disagreed"}` },
    h("summary", {}, h("span", { "aria-hidden": "true" }, agreement.agreed ? "⇄✔ " : "⇄✖ "),
      agreement.agreed ? "both judge orders agreed" : "judge orders disagreed, so unchanged"),
    h("dl", {}, order("Original answer shown first", agreement.originalFirst),
      order("Fixed answer shown first", agreement.fixedFirst)),
    h("p", { className: "hint" }, "The scores above are the mean of both orders."));
}

function score(value) {
  return value === null || value === undefined ? "—" : value.toFixed(2);
}
