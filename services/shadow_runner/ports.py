"""What the shadow runner's handlers need from its store, its neighbours and the model endpoints."""

from dataclasses import dataclass, field
from typing import Protocol

from services.shadow_runner.domain.model import ShadowTest, Tally
from services.shadow_runner.domain.replay import AskedCall, ChatRequest
from shared.contracts.envelope import Envelope
from shared.contracts.fixes import FixView
from shared.contracts.issues import IssueDetail
from shared.contracts.shadow_tests import ListShadowTests, TraceResult
from shared.contracts.traces import Trace
from shared.messaging.commands import CommandContext
from shared.messaging.outbox import OutboxStore
from shared.store.creation import Creation


class ShadowTests(OutboxStore, Protocol):
    """Tests, and their results kept apart: one per trace of a test, never two."""

    async def add(self, test: ShadowTest, creation: Creation, outbox: list[Envelope]) -> None:
        """Stores a new test; raises `IdTaken` or `AlreadyCreated` (same command seen before)."""

    async def find_creation(self, workspace: str, command_id: str) -> Creation | None: ...

    async def get(self, workspace: str, test_id: str) -> ShadowTest | None: ...

    async def save(self, test: ShadowTest, outbox: list[Envelope]) -> None:
        """Stores a status change; raises `ConcurrentUpdate` if the test changed since it was read."""

    async def has_result(self, test_id: str, trace_id: str) -> bool: ...

    async def record_result(self, test_id: str, result: TraceResult, control: bool = False) -> bool:
        """Keeps a trace's result (`control`: of a control trace); False if the trace has one already."""

    async def result_count(self, test_id: str) -> int:
        """How many results the test has, the controls' included."""

    async def tally(self, test_id: str) -> Tally:
        """The verdicts of the issue's traces so far (not the controls')."""

    async def verdicts(self, test_id: str) -> dict[str, str]:
        """The verdict of each trace of the test recorded so far, by trace id."""

    async def results(self, test: ShadowTest) -> list[TraceResult]:
        """The test's results, oldest first (for a test failed before it kept which it counted,
        those recorded before it failed)."""

    async def active_ids_for_issue(self, workspace: str, issue_id: str) -> list[str]: ...

    async def find_page(self, workspace: str, query: ListShadowTests) -> tuple[list[ShadowTest], int]:
        """One page of tests, an active test's tally (issue traces only) counted as it is now, and
        how many match."""


class Neighbours(Protocol):
    """What the runner asks the fixes, issues and traces services; None when it does not exist."""

    async def fix(self, ctx: CommandContext, fix_id: str) -> FixView | None:
        """The fix with only the fields the runner needs (see `adapters.remote.RUNNER_FIX_FIELDS`)."""

    async def issue(self, ctx: CommandContext, issue_id: str) -> IssueDetail | None: ...

    async def trace(self, ctx: CommandContext, trace_id: str) -> Trace | None: ...

    async def missing_traces(self, ctx: CommandContext, trace_ids: list[str]) -> list[str]: ...


class ModelError(Exception):
    """The endpoint did not give a usable answer; the message says why, for the user."""


class ParameterRefused(ModelError):
    """The endpoint refused a parameter of the request it does not support (`parameter`)."""

    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Completion:
    """The model's reply: its text (empty when it only asked for tools) and the tool calls it asked for."""

    text: str
    attempts: int
    tool_calls: list[AskedCall] = field(default_factory=list)


class ChatModel(Protocol):
    """An OpenAI-compatible chat endpoint, replaying traces or judging answers."""

    async def complete(self, request: ChatRequest) -> Completion:
        """The model's answer, retried as the endpoint allows; raises `ModelError` when there is
        none to be had, `ParameterRefused` when the endpoint refuses an optional parameter."""

    def accepts(self, parameter: str) -> bool:
        """False once the endpoint has refused the parameter (remembered for the process)."""


class ReplayMetrics(Protocol):
    def replayed(self, result: TraceResult) -> None:
        """Counts a trace replayed and scored (by verdict) and the time it took."""
