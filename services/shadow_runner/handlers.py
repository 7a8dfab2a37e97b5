"""The shadow runner's use cases: shadow tests, their per-trace work, and one-off execution."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.shadow_runner.adapters.chat_model import ModelError
from services.shadow_runner.adapters.metrics import REPLAY_SECONDS, REPLAYS
from services.shadow_runner.adapters.mongo_repository import MongoShadowTests
from services.shadow_runner.adapters.remote import RemoteServices
from services.shadow_runner.domain.model import IssueContext, ShadowTest, new_shadow_test_id
from services.shadow_runner.evaluation import Evaluator
from shared.contracts.common import Page, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, ErrorDetail, NotFound, UpstreamFailed
from shared.contracts.fixes import FixView
from shared.contracts.shadow_tests import (
    CreateShadowTest,
    CreateShadowTestResult,
    ExecuteShadow,
    GetShadowTest,
    ListShadowTests,
    ReplayRequested,
    ShadowExecution,
    ShadowTestDetail,
    ShadowTestView,
    UpdateShadowTest,
)
from shared.messaging.commands import CommandContext
from shared.messaging.idempotency import create_once, replay
from shared.messaging.mongo import Creation, retry_on_conflict
from shared.messaging.outbox import envelopes

log = structlog.get_logger(__name__)
TESTABLE_FIX_STATUSES = frozenset({"draft", "proposed", "testing"})


@dataclass(frozen=True)
class Dependencies:
    tests: MongoShadowTests
    remote: RemoteServices
    evaluator: Evaluator
    notify: Callable[[str], None]
    clock: Callable[[], datetime] = utc_now


async def create_shadow_test(
    command: CreateShadowTest, ctx: CommandContext, deps: Dependencies
) -> CreateShadowTestResult:
    """Checks the fix and every trace, keeps the fix as it is now, and queues one replay per
    trace. The fix (and so its issue) moves to testing through the `shadow_test.created` event."""
    if seen := await deps.tests.find_creation(ctx.workspace, ctx.command_id):
        return CreateShadowTestResult(test=ShadowTestView.model_validate(replay(seen, command)), replayed=True)
    fix = await deps.remote.fix(ctx, command.fix_id)
    if fix is None:
        raise NotFound(f"Fix {command.fix_id} not found")
    if fix.status not in TESTABLE_FIX_STATUSES:
        raise Conflict(f"Fix {fix.id} is {fix.status}; only a draft, proposed or testing fix can be shadow tested")
    found = await deps.remote.traces(ctx, command.trace_ids)
    if found.missing:
        details = [
            ErrorDetail(field=f"traceIds.{command.trace_ids.index(trace_id)}", message=f"trace {trace_id} not found")
            for trace_id in found.missing
        ]
        raise NotFound(f"Traces not found: {', '.join(found.missing)}", details)
    issue = await _issue_context(deps, ctx, fix)
    snapshot = FixView.model_validate(fix.model_dump(exclude={"shadow_tests"}))

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


async def get_shadow_test(command: GetShadowTest, ctx: CommandContext, deps: Dependencies) -> ShadowTestDetail:
    return (await _existing(deps, ctx.workspace, command.shadow_test_id)).detail()


async def list_shadow_tests(command: ListShadowTests, ctx: CommandContext, deps: Dependencies) -> Page[ShadowTestView]:
    tests, total = await deps.tests.find_page(ctx.workspace, command)
    return Page[ShadowTestView](items=[t.view() for t in tests], page=command.page, limit=command.limit, total=total)


async def update_shadow_test(command: UpdateShadowTest, ctx: CommandContext, deps: Dependencies) -> ShadowTestView:
    """Stops a test as failed: the traces not replayed yet are skipped, and results that
    arrive afterwards are not recorded."""

    async def attempt() -> ShadowTestView:
        test = await _existing(deps, ctx.workspace, command.shadow_test_id)
        if test.status == "failed" and test.failure == command.patch.results.error:
            return test.view()
        test.fail(command.patch.results.error, deps.clock())
        await _save(deps, ctx, test)
        return test.view()

    return await retry_on_conflict(attempt, f"Shadow test {command.shadow_test_id}")


async def execute_shadow(command: ExecuteShadow, ctx: CommandContext, deps: Dependencies) -> ShadowExecution:
    fix = await deps.remote.fix(ctx, command.fix_id)
    if fix is None:
        raise NotFound(f"Fix {command.fix_id} not found")
    trace = await deps.remote.trace(ctx, command.trace_id)
    if trace is None:
        raise NotFound(f"Trace {command.trace_id} not found")
    issue = await _issue_context(deps, ctx, fix)
    try:
        result = await deps.evaluator.evaluate(trace, fix, issue, command.config.comparison_mode, strict=True)
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
    )


async def on_replay_requested(job: ReplayRequested, envelope: Envelope, deps: Dependencies) -> None:
    """Replays one trace of a test and records its result, at most once however often the
    work is delivered; completes the test with its last result."""
    ctx = CommandContext.of(envelope)
    test = await deps.tests.get(ctx.workspace, job.shadow_test_id)
    if test is None or not test.active:
        log.info("replay skipped; the test is no longer active", shadow_test_id=job.shadow_test_id,
                 trace_id=job.trace_id)
        return
    if test.has_result(job.trace_id):
        return
    if test.status == "pending":
        await _change(deps, ctx, test.id, lambda test: test.start(deps.clock()))
    trace = await deps.remote.trace(ctx, job.trace_id)
    if trace is None:
        result = deps.evaluator.errored(job.trace_id, "", "The trace is gone", test.config.comparison_mode)
    else:
        result = await deps.evaluator.evaluate(trace, test.fix, test.issue, test.config.comparison_mode)
    REPLAYS.labels(result.verdict).inc()
    REPLAY_SECONDS.observe(result.latency_ms / 1000)
    if await deps.tests.record_result(ctx.workspace, test.id, result):
        log.info("trace replayed", shadow_test_id=test.id, trace_id=job.trace_id, verdict=result.verdict,
                 latency_ms=result.latency_ms)
        await _change(deps, ctx, test.id, lambda test: test.complete_if_done(deps.clock()))
    else:
        log.info("replay skipped; the test is no longer active", shadow_test_id=test.id, trace_id=job.trace_id)


async def _change(deps: Dependencies, ctx: CommandContext, test_id: str, change: Callable[[ShadowTest], None]) -> None:
    async def attempt() -> None:
        test = await _existing(deps, ctx.workspace, test_id)
        change(test)
        await _save(deps, ctx, test)

    await retry_on_conflict(attempt, f"Shadow test {test_id}")


async def _issue_context(deps: Dependencies, ctx: CommandContext, fix: FixView) -> IssueContext | None:
    issue = await deps.remote.issue(ctx, fix.issue_id) if fix.issue_id else None
    return IssueContext(issue.id, issue.title, issue.description) if issue else None


async def _existing(deps: Dependencies, workspace: str, test_id: str) -> ShadowTest:
    test = await deps.tests.get(workspace, test_id)
    if test is None:
        raise NotFound(f"Shadow test {test_id} not found")
    return test


async def _save(deps: Dependencies, ctx: CommandContext, test: ShadowTest) -> None:
    if test.events:
        await deps.tests.save_status(test, envelopes(test.events, ctx))
        deps.notify(test.id)
