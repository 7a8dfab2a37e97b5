"""Commands the shadow runner answers, the views it returns and the events it emits."""

from collections import Counter
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints

from shared.contracts.agent_steps import Json
from shared.contracts.common import ContractModel, PageRequest, PatchModel, Timestamp, distinct, trimmed
from shared.contracts.fixes import FixId
from shared.contracts.issues import IssueId
from shared.contracts.traces import TraceId

SHADOW_RUNNER = "shadow_runner"
MAX_TRACES_PER_TEST = 1000

ComparisonMode = Literal["side_by_side", "automated"]
ShadowTestStatus = Literal["pending", "running", "completed", "failed"]
Verdict = Literal["improved", "unchanged", "regressed", "errored", "diverged"]
ShadowTestId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _no_repeats(values: list[str]) -> list[str]:
    repeated = sorted(value for value, times in Counter(values).items() if times > 1)
    if repeated:
        raise ValueError(f"each trace at most once; repeated: {', '.join(repeated)}")
    return values


class ScoringConfig(ContractModel):
    comparison_mode: ComparisonMode = "side_by_side"


CONTROL_TRACE_IDS = ("Traces outside the issue that the agent answered well, replayed beside `traceIds` and "
                     "reported apart in `results.control`: a fix that breaks them is not recommended `ship`. "
                     "Each at most once, none of them in `traceIds`.")


class ShadowTestConfig(ScoringConfig):
    control_trace_ids: Annotated[
        list[TraceId],
        Field(max_length=MAX_TRACES_PER_TEST, description=CONTROL_TRACE_IDS, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_no_repeats),
    ] = []


class ShadowRunnerCommand(ContractModel):
    service: ClassVar[str] = SHADOW_RUNNER
    message_type: ClassVar[str]


class CreateShadowTest(ShadowRunnerCommand):
    """Replays every trace (each once, duplicates dropped) and every control trace against the
    fix as it is now. A control among `traceIds` is refused by the runner (`InvalidRequest`), a
    rule JSON Schema cannot state."""

    message_type: ClassVar[str] = "shadow_tests.create"
    fix_id: FixId
    trace_ids: Annotated[list[TraceId], Field(min_length=1, max_length=MAX_TRACES_PER_TEST), AfterValidator(distinct)]
    config: ShadowTestConfig = ShadowTestConfig()

    @property
    def all_trace_ids(self) -> list[str]:
        return [*self.trace_ids, *self.config.control_trace_ids]


class GetShadowTest(ShadowRunnerCommand):
    message_type: ClassVar[str] = "shadow_tests.get"
    shadow_test_id: ShadowTestId


class ListShadowTests(ShadowRunnerCommand, PageRequest):
    message_type: ClassVar[str] = "shadow_tests.list"
    fix_id: FixId | None = None
    status: ShadowTestStatus | None = None


ErrorText = trimmed(2000)


class FailureReport(ContractModel):
    error: ErrorText = "Stopped by request"


class ShadowTestPatch(PatchModel):
    """The one change a user makes to a test: stop it as `failed`, saying why."""

    status: Literal["failed"]
    results: FailureReport = FailureReport()


class UpdateShadowTest(ShadowRunnerCommand):
    message_type: ClassVar[str] = "shadow_tests.update"
    shadow_test_id: ShadowTestId
    patch: ShadowTestPatch


class ActiveShadowTests(ShadowRunnerCommand):
    """For other services: the pending or running tests of the fixes of an issue."""

    message_type: ClassVar[str] = "shadow_tests.active_for_issue"
    issue_id: IssueId


class ShadowTestIds(ContractModel):
    ids: list[str]


class ExecuteShadow(ShadowRunnerCommand):
    """Replays one trace against a fix and scores it, synchronously."""

    message_type: ClassVar[str] = "shadow_tests.execute"
    fix_id: FixId
    trace_id: TraceId
    config: ScoringConfig = ScoringConfig()


Recommendation = Literal["ship", "reject", "inconclusive"]
Interval = tuple[float, float]


class Significance(ContractModel):
    """How sure a test's counts are (docs/statistics.md). `pValue`: two-sided exact sign test of
    improved against regressed traces, 1.0 when none moved either way. `improvementRateCi95`:
    Wilson 95% interval of improved / scored traces. `meanScoreChange`: the mean of fixed minus
    original score over traces scored both times, with its 95% paired-bootstrap interval. Each
    figure is null where it is undefined: no scored trace, or an interval from one score change."""

    method: Literal["sign_test"] = "sign_test"
    p_value: Annotated[float, Field(ge=0, le=1)]
    improvement_rate_ci95: Interval | None
    mean_score_change: float | None
    mean_score_change_ci95: Interval | None


class ControlResults(ContractModel):
    """The control traces (answered well before the fix, outside the issue), counted and tested
    apart from the issue's traces."""

    improved: int = 0
    unchanged: int = 0
    regressed: int = 0
    errored: int = 0
    diverged: int = 0
    improvement_rate: float | None = None
    significance: Significance


class ShadowStatistics(ContractModel):
    """What a completed test's `results` say beyond the counts. `recommendation`: `ship` when the
    issue's traces improved significantly more often than they regressed and the controls did
    not regress significantly; `reject` when the issue's traces or the controls regressed
    significantly more often than they improved; else `inconclusive`, with `minimumTraces`: how
    many issue traces a test would need to decide if the proportions seen held (null when none
    would). `control` is null when the test replayed no controls."""

    significance: Significance
    recommendation: Recommendation
    recommendation_reason: str
    minimum_traces: int | None = None
    control: ControlResults | None = None


class ShadowResults(ContractModel):
    """The counts are over the issue's traces (`traceIds`), never the controls.
    `improvementRate` = improved / (improved + unchanged + regressed); errored traces are not
    scored, nor are `diverged` ones (replays that called a tool the original run never did:
    neither improved nor regressed). `error` says why a failed test stopped. The statistics (`significance`,
    `recommendation`, `recommendationReason`, `minimumTraces`, `control`; see
    `ShadowStatistics`) are given once the test is completed, and are null before and for a
    failed test."""

    improved: int = 0
    unchanged: int = 0
    regressed: int = 0
    errored: int = 0
    diverged: int = 0
    improvement_rate: float | None = None
    error: str | None = None
    significance: Significance | None = None
    recommendation: Recommendation | None = None
    recommendation_reason: str | None = None
    minimum_traces: int | None = None
    control: ControlResults | None = None


Scored = Literal["improved", "unchanged", "regressed"]


class JudgeOrder(ContractModel):
    """The judge's scores and the verdict they give, with the answers shown in one order."""

    original_score: float
    fixed_score: float
    verdict: Scored


class JudgeAgreement(ContractModel):
    """How a `side_by_side` verdict was reached: the judge is asked twice, the original answer
    shown first (`originalFirst`) and the fixed one first (`fixedFirst`). `agreed`: both orders
    give the same verdict, which is the trace's; when they disagree, the trace is `unchanged`.
    The trace's scores are the mean of both orders'."""

    agreed: bool
    original_first: JudgeOrder
    fixed_first: JudgeOrder


JUDGE_AGREEMENT = "What the judge said in each order (`side_by_side`); null when no judge scored the trace"

ReplayOutcome = Literal["answered", "diverged", "step_limit", "errored"]
StepSource = Literal["recorded", "repeated", "stub"]


class ReplayedCall(ContractModel):
    """A tool call the fixed agent made, and what the replay answered it with: the recorded
    result of the matching step (`source` `recorded`, `recordedCallId` naming it), that result
    again for a call repeated with the same arguments (`repeated`), or the fix's tool stub
    (`stub`). `status` is `error` when the answer was the tool's error."""

    turn: int
    call_id: str
    name: str
    arguments: str
    source: StepSource
    recorded_call_id: str | None = None
    result: Json = None
    status: Literal["ok", "error"] = "ok"
    error: str | None = None


class DivergedCall(ContractModel):
    name: str
    arguments: str


class Replay(ContractModel):
    """How a trace with tools was replayed (docs/replay.md): the calls the fixed agent made, in
    order, with what each was answered; `modelCalls` made; `outcome`: `answered` (the model
    answered without tool calls: the trace's `fixedOutput`), `diverged` (it called a tool the
    original run never did: `divergedAt`), `step_limit` (still asking for tools after
    `MAX_REPLAY_STEPS` model calls) or `errored`. `finalAnswer` is the model's last answer, before a
    guardrail fix's rule (the trace's `fixedOutput` is after it)."""

    outcome: ReplayOutcome
    model_calls: int
    steps: list[ReplayedCall] = []
    diverged_at: DivergedCall | None = None
    final_answer: str | None = None


REPLAY = ("The replayed tool calls, for a trace that offered tools or recorded calls, or a replay that called "
          "one; else null")


class TraceResult(ContractModel):
    trace_id: str
    verdict: Verdict
    original_score: float | None
    fixed_score: float | None
    explanation: str
    scoring: ComparisonMode
    original_output: str
    fixed_output: str | None
    latency_ms: int
    judge_agreement: JudgeAgreement | None = Field(None, description=JUDGE_AGREEMENT)
    replay: Replay | None = Field(None, description=REPLAY)


class ShadowTestView(ContractModel):
    id: str
    fix_id: str
    status: ShadowTestStatus
    trace_count: int
    config: ShadowTestConfig
    results: ShadowResults
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None


class ShadowTestDetail(ShadowTestView):
    """`traceResults` are the issue's traces, `controlTraceResults` the controls'."""

    trace_results: list[TraceResult]
    control_trace_results: list[TraceResult] = []


class CreateShadowTestResult(ContractModel):
    test: ShadowTestView
    replayed: bool


class ShadowExecution(ContractModel):
    trace_id: str
    fix_id: str
    original_output: str
    fixed_output: str | None
    verdict: Verdict
    original_score: float | None
    fixed_score: float | None
    explanation: str
    latency_ms: int
    executed_at: Timestamp
    judge_agreement: JudgeAgreement | None = Field(None, description=JUDGE_AGREEMENT)
    replay: Replay | None = Field(None, description=REPLAY)


class ShadowTestEvent(ContractModel):
    """A change of a test's status. `issueId` is the fix's issue when the test was created."""

    routing_key: ClassVar[str]
    test: ShadowTestView
    issue_id: str | None
    version: int


class ShadowTestCreated(ShadowTestEvent):
    routing_key: ClassVar[str] = "shadow_test.created"


class ShadowTestStarted(ShadowTestEvent):
    routing_key: ClassVar[str] = "shadow_test.started"


class ShadowTestCompleted(ShadowTestEvent):
    routing_key: ClassVar[str] = "shadow_test.completed"


class ShadowTestFailed(ShadowTestEvent):
    routing_key: ClassVar[str] = "shadow_test.failed"


SHADOW_TEST_EVENTS = (ShadowTestCreated, ShadowTestStarted, ShadowTestCompleted, ShadowTestFailed)
