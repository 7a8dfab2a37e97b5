"""The shadow runner's use cases: shadow tests, their per-trace work, and one-off execution."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.shadow_runner.domain.commands import ReplayRequested
from services.shadow_runner.domain.judging import Judged, Reading, both_orders, judge_request
from services.shadow_runner.domain.model import IssueContext, ShadowTest, Tally, check_controls, new_shadow_test_id
from services.shadow_runner.domain.replay import (
    ReplayError,
    apply_guardrail,
    customer_messages,
    replay_request,
    tool_stubs,
)
from services.shadow_runner.domain.results import (
    NOT_SCORABLE,
    diverged,
    errored,
    guardrail_of,
    scored,
    without_judge,
)
from services.shadow_runner.domain.scoring import MalformedJudgement, Score, automated_score, parse_judgement
from services.shadow_runner.domain.tool_replay import RecordedSteps, ToolReplay
from services.shadow_runner.ports import ChatModel, ModelError, Neighbours, ParameterRefused, ReplayMetrics, ShadowTests
from shared.contracts.common import Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, DeadlineExceeded, ErrorDetail, NotFound, Unavailable, UpstreamFailed
from shared.contracts.fixes import FixView, Guardrail
from shared.contracts.shadow_tests import (
    ActiveShadowTests,
    ComparisonMode,
    CreateShadowTest,
    CreateShadowTestResult,
    ExecuteShadow,
    GetShadowTest,
    ListShadowTests,
    ShadowExecution,
    ShadowTestDetail,
    ShadowTestIds,
    ShadowTestView,
    TraceResult,
    UpdateShadowTest,
)
from shared.contracts.traces import Trace
from shared.messaging.commands import CommandContext
from shared.messaging.outbox import envelopes
from shared.store.creation import Creation, create_once, replay
from shared.store.unit_of_work import Aggregates, UnitOfWork

log = structlog.get_logger(__name__)
TESTABLE_FIX_STATUSES = frozenset({"draft", "proposed", "testing"})


@dataclass(frozen=True)
class Models:
    """The model endpoints one kind of work uses (None: not configured), and how it scores."""

    replay: ChatModel | None
    judge: ChatModel | None
    judge_model_name: str
    model_override: str | None
    margin: float
    judge_attempts: int = 3
    max_replay_steps: int = 10
    """Model calls one trace's replay makes at most (`MAX_REPLAY_STEPS`)."""


@dataclass(frozen=True)
class Dependencies:
    tests: ShadowTests
    remote: Neighbours
    models: Models
    notify: Callable[[str], None]
    metrics: ReplayMetrics
    clock: Callable[[], datetime] = utc_now
    sync_models: Models | None = None
    """Their own model clients, so that a synchronous execution does not queue behind batch replays."""


async def create_shadow_test(
    command: CreateShadowTest, ctx: CommandContext, deps: Dependencies
) -> CreateShadowTestResult:
    """Checks the fix and every trace (controls included), keeps the fix as it is now, and
    queues one replay per trace, the controls' too. The fix (and so its issue) moves to testing
    through the `shadow_test.created` event."""
    if seen := await deps.tests.find_creation(ctx.workspace, ctx.command_id):
        return CreateShadowTestResult(test=ShadowTestView.model_validate(replay(seen, command)), replayed=True)
    fix = await deps.remote.fix(ctx, command.fix_id)
    if fix is None:
        raise NotFound(f"Fix {command.fix_id} not found")
    if fix.status not in TESTABLE_FIX_STATUSES:
        raise Conflict(f"Fix {fix.id} is {fix.status}; only a draft, proposed or testing fix can be shadow tested")
    check_controls(command.trace_ids, command.config.control_trace_ids)
    missing = await deps.remote.missing_traces(ctx, command.all_trace_ids)
    if missing:
        raise NotFound(f"Traces not found: {', '.join(missing)}", _places(command, missing))
    issue = await _issue_context(deps, ctx, fix)
    snapshot = FixView.model_validate(fix.model_dump(exclude={"shadow_tests", "status_history"}))

    async def insert(test: ShadowTest, creation: Creation) -> None:
        await deps.tests.add(test, creation, envelopes(test.events, ctx))

    test, response = await create_once(
        ctx.command_id,
        command,
        build=lambda: ShadowTest.create(new_shadow_test_id(), ctx.workspace, snapshot, issue, command.trace_ids,
                                        command.config, deps.clock()),
        respond=lambda test: test.view().to_wire(),
        insert=insert,
    )
    if test is not None:
        deps.notify(test.id)
    return CreateShadowTestResult(test=ShadowTestView.model_validate(response), replayed=test is None)


def _places(command: CreateShadowTest, missing: list[str]) -> list[ErrorDetail]:
    places = {trace_id: f"traceIds.{n}" for n, trace_id in enumerate(command.trace_ids)}
    places |= {trace_id: f"config.controlTraceIds.{n}" for n, trace_id in enumerate(command.config.control_trace_ids)}
    return [ErrorDetail(field=places[trace_id], message=f"trace {trace_id} not found") for trace_id in missing]


async def get_shadow_test(command: GetShadowTest, ctx: CommandContext, deps: Dependencies) -> ShadowTestDetail:
    test = await _tests(deps).read(ctx, command.shadow_test_id)
    return test.detail(await deps.tests.results(test))


async def active_shadow_tests(command: ActiveShadowTests, ctx: CommandContext, deps: Dependencies) -> ShadowTestIds:
    return ShadowTestIds(ids=await deps.tests.active_ids_for_issue(ctx.workspace, command.issue_id))


async def list_shadow_tests(command: ListShadowTests, ctx: CommandContext, deps: Dependencies) -> Page[ShadowTestView]:
    tests, total = await deps.tests.find_page(ctx.workspace, command)
    return Page[ShadowTestView](items=[t.view() for t in tests], page=command.page, limit=command.limit, total=total)


async def update_shadow_test(command: UpdateShadowTest, ctx: CommandContext, deps: Dependencies) -> ShadowTestView:
    """Stops a test as failed: the traces not replayed yet are skipped, and its counts and
    listed results are the results recorded when it stopped (none that arrive afterwards)."""

    async def work(unit: UnitOfWork[ShadowTest]) -> ShadowTestView:
        test = await unit.existing(command.shadow_test_id)
        if test.status == "failed" and test.failure == command.patch.results.error:
            return test.view()
        test.fail(command.patch.results.error, await deps.tests.verdicts(test.id), deps.clock())
        return test.view()

    return await _tests(deps).change(ctx, work, f"Shadow test {command.shadow_test_id}")


async def execute_shadow(command: ExecuteShadow, ctx: CommandContext, deps: Dependencies) -> ShadowExecution:
    fix = await deps.remote.fix(ctx, command.fix_id)
    if fix is None:
        raise NotFound(f"Fix {command.fix_id} not found")
    trace = await deps.remote.trace(ctx, command.trace_id)
    if trace is None:
        raise NotFound(f"Trace {command.trace_id} not found")
    issue = await _issue_context(deps, ctx, fix)
    try:
        result = await _evaluate(deps, deps.sync_models or deps.models, trace, fix, issue,
                                 command.config.comparison_mode, strict=True)
    except ModelError as error:
        raise UpstreamFailed(str(error)) from error
    return ShadowExecution(
        trace_id=trace.id,
        fix_id=fix.id,
        original_output=result.original_output,
        fixed_output=result.fixed_output,
        verdict=result.verdict,
        original_score=result.original_score,
        fixed_score=result.fixed_score,
        explanation=result.explanation,
        latency_ms=result.latency_ms,
        executed_at=deps.clock(),
        judge_agreement=result.judge_agreement,
        replay=result.replay,
    )


async def on_replay_requested(job: ReplayRequested, envelope: Envelope, deps: Dependencies) -> None:
    """Replays one trace of a test and keeps its result, at most once however often the work
    is delivered, then completes the test if that was its last trace (checked on every
    delivery, so a runner that died between the two steps leaves nothing undone). A failure
    that retrying cannot mend becomes the trace's `errored` result; a broker or store outage
    is retried."""
    ctx = CommandContext.of(envelope)
    test = await deps.tests.get(ctx.workspace, job.shadow_test_id)
    if test is None or not test.active:
        log.info("replay skipped; the test is no longer active", shadow_test_id=job.shadow_test_id,
                 trace_id=job.trace_id)
        return
    if test.status == "pending":
        await _change(deps, ctx, test.id, lambda test, _tally: test.start(deps.clock()), needs_tally=False)
    if not await deps.tests.has_result(test.id, job.trace_id):
        result = await _replayed(deps, ctx, test, job.trace_id)
        deps.metrics.replayed(result)
        control = test.is_control(job.trace_id)
        if await deps.tests.record_result(test.id, result, control=control):
            log.info("trace replayed", shadow_test_id=test.id, trace_id=job.trace_id, verdict=result.verdict,
                     latency_ms=result.latency_ms, control=control)
    if await deps.tests.result_count(test.id) >= len(test.all_trace_ids):
        await _complete(deps, ctx, test)


async def _complete(deps: Dependencies, ctx: CommandContext, test: ShadowTest) -> None:
    """Completes the test with its statistics, computed in a worker thread (the bootstrap takes
    tens of milliseconds, more for a large test) so that the loop keeps serving other work."""
    results = await deps.tests.results(test)
    figures = await asyncio.to_thread(test.statistics_of, results)
    await _change(deps, ctx, test.id, lambda test, tally: test.complete(tally, figures, deps.clock()))
    log.info("shadow test statistics", shadow_test_id=test.id, recommendation=figures.recommendation,
             p_value=figures.significance.p_value)


async def _replayed(deps: Dependencies, ctx: CommandContext, test: ShadowTest, trace_id: str) -> TraceResult:
    mode = test.config.comparison_mode
    try:
        trace = await deps.remote.trace(ctx, trace_id)
        if trace is None:
            return errored(trace_id, "", "The trace is gone", mode)
        return await _evaluate(deps, deps.models, trace, test.fix, test.issue, mode)
    except (Unavailable, DeadlineExceeded):
        raise
    except Exception as error:
        log.exception("replay failed; recorded as errored", shadow_test_id=test.id, trace_id=trace_id)
        return errored(trace_id, "", f"Replay failed: {error}", mode)


async def _evaluate(
    deps: Dependencies, models: Models, trace: Trace, fix: FixView, issue: IssueContext | None,
    mode: ComparisonMode, strict: bool = False,
) -> TraceResult:
    """The trace replayed with the fix and scored. A fix that does not apply, a model that fails
    after its retries or answers that cannot be scored give an `errored` result that says why
    (with `strict`, a model failure is raised as `ModelError` instead); a replay that calls a tool
    the original run never did is `diverged`; only a store or broker outage escapes as another
    exception (and the work is retried). Guardrail patterns are matched in a worker thread (RE2
    releases the GIL), so a long answer never holds the loop."""
    started = time.monotonic()
    run: ToolReplay | None = None

    def failed(explanation: str, fixed_output: str | None = None) -> TraceResult:
        return errored(trace.id, trace.output, explanation, mode, fixed_output, _ms_since(started), _shown(run))

    try:
        guardrail = guardrail_of(fix)
        if models.replay is None:
            raise ModelError("No replay model is configured (REPLAY_MODEL_BASE_URL)")
        request = replay_request(trace, fix.type, fix.changes, models.model_override)
        run = ToolReplay(request, RecordedSteps.of(trace, tool_stubs(fix.changes)), models.max_replay_steps)
        await _replay(models.replay, run)
    except ReplayError as error:
        return failed(str(error))
    except ModelError as error:
        if strict:
            raise
        return failed(str(error))
    if run.outcome == "diverged":
        return diverged(trace, run.divergence(), mode, _ms_since(started), run.transcript())
    if run.outcome == "step_limit":
        return failed(f"Step limit: the fixed agent still asked for tools after {run.model_calls} model calls "
                      f"(MAX_REPLAY_STEPS); no final answer to score")
    answer = run.answer
    if guardrail is not None:
        answer, _ = await asyncio.to_thread(apply_guardrail, answer, guardrail)
    try:
        score, used = await _score(deps, models, trace, guardrail, issue, answer, mode)
    except ModelError as error:
        if strict:
            raise
        return failed(f"Could not score: {error}", answer)
    except MalformedJudgement as error:
        return failed(f"Could not score: {error}", answer)
    if score is None:
        return failed(NOT_SCORABLE, answer)
    return scored(trace, answer, score, used, models.margin, _ms_since(started), _shown(run))


async def _replay(model: ChatModel, run: ToolReplay) -> None:
    """The replay loop: each request to the model, each reply answered from the recorded steps."""
    while (request := run.next_request()) is not None:
        try:
            reply = await model.complete(request)
        except ModelError:
            run.failed()
            raise
        run.took(reply.text, reply.tool_calls)


def _shown(run: ToolReplay | None):
    """The replay's transcript, for a trace that offered tools or recorded calls, or a replay that called one."""
    if run is None or not (run.request.tools or run.recorded.steps or run.steps or run.diverged_at):
        return None
    return run.transcript()


async def _score(
    deps: Dependencies, models: Models, trace: Trace, guardrail: Guardrail | None, issue: IssueContext | None,
    answer: str, mode: ComparisonMode,
) -> tuple[Score | None, ComparisonMode]:
    if mode == "side_by_side" and models.judge is not None:
        return await _judge(models, trace, issue, answer), "side_by_side"
    score = await asyncio.to_thread(automated_score, trace.output, answer, trace.expected_output, guardrail,
                                    customer_messages(trace))
    if score is not None and mode == "side_by_side":
        score = without_judge(score)
    return score, "automated"


async def _judge(models: Models, trace: Trace, issue: IssueContext | None, answer: str) -> Judged:
    """The judge asked in both orders at once (see `domain.judging`); the first failure stops both."""
    issue_text = {"title": issue.title, "description": issue.description} if issue else None
    try:
        async with asyncio.TaskGroup() as group:
            original_first = group.create_task(_judge_once(models, trace, issue_text, answer, fixed_first=False))
            fixed_first = group.create_task(_judge_once(models, trace, issue_text, answer, fixed_first=True))
    except ExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return both_orders(original_first.result(), fixed_first.result(), models.margin)


async def _judge_once(models: Models, trace: Trace, issue: dict | None, answer: str, fixed_first: bool) -> Reading:
    """The judge's scores in one order, asked again (up to `judge_attempts` in all) while its reply
    is malformed. Its reply is asked for as structured output unless the endpoint refuses that,
    and then as the JSON the prompt describes."""
    problem: MalformedJudgement | None = None
    for attempt in range(1, models.judge_attempts + 1):
        structured = models.judge.accepts("response_format")
        try:
            reply = await models.judge.complete(
                judge_request(models.judge_model_name, trace, issue, answer, fixed_first, structured))
        except ParameterRefused:
            if not structured:
                raise
            reply = await models.judge.complete(
                judge_request(models.judge_model_name, trace, issue, answer, fixed_first, structured=False))
        try:
            return Reading.of(*parse_judgement(reply.text), fixed_first)
        except MalformedJudgement as error:
            problem = error
            log.info("judge reply malformed; asking again", attempt=attempt, fixed_first=fixed_first,
                     trace_id=trace.id, error=str(error))
    log.warning("judge reply malformed every time; the trace is errored", trace_id=trace.id,
                fixed_first=fixed_first, error=str(problem))
    raise MalformedJudgement(f"{problem} (after {models.judge_attempts} attempts)")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def _change(
    deps: Dependencies,
    ctx: CommandContext,
    test_id: str,
    change: Callable[[ShadowTest, Tally | None], None],
    needs_tally: bool = True,
) -> None:
    """Applies a status change to the current test (with its current tally, unless the change
    does not need it) and stores it."""

    async def work(unit: UnitOfWork[ShadowTest]) -> None:
        test = await unit.existing(test_id)
        if test.active:
            change(test, await deps.tests.tally(test_id) if needs_tally else None)

    await _tests(deps).change(ctx, work, f"Shadow test {test_id}")


async def _issue_context(deps: Dependencies, ctx: CommandContext, fix: FixView) -> IssueContext | None:
    issue = await deps.remote.issue(ctx, fix.issue_id) if fix.issue_id else None
    return IssueContext(issue.id, issue.title, issue.description) if issue else None


def _tests(deps: Dependencies) -> Aggregates[ShadowTest]:
    """Shadow tests as the unit of work reads and saves them (no command record: a test's
    changes are checked against its status)."""
    return Aggregates(deps.tests, deps.notify, name="Shadow test", clock=deps.clock)
