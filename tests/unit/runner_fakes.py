"""In-memory stand-ins for the shadow runner's ports: its store, its neighbours, the models."""

import copy
from collections.abc import Callable
from types import SimpleNamespace

from services.shadow_runner.domain.model import ACTIVE, Tally
from services.shadow_runner.domain.replay import ChatRequest
from services.shadow_runner.ports import Completion, ModelError, ParameterRefused
from shared.store.creation import AlreadyCreated
from shared.store.documents import ConcurrentUpdate


class FakeShadowTests:
    """Tests written as `MongoShadowTests` writes them: inserted once per command, a status
    change stored only if the test is still at the version it was read at, events kept in an
    outbox per test; results one per trace, in the order recorded."""

    def __init__(self):
        self.stored: dict = {}
        self.creations: dict = {}
        self.outbox: dict[str, list] = {}
        self.recorded: dict[str, dict] = {}
        self.controls: set[tuple[str, str]] = set()
        self.on_save: list[Callable] = []

    async def add(self, test, creation, outbox):
        if (test.workspace, creation.command_id) in self.creations:
            raise AlreadyCreated(self.creations[(test.workspace, creation.command_id)])
        self.creations[(test.workspace, creation.command_id)] = creation
        self._keep(test, outbox)

    async def find_creation(self, workspace, command_id):
        return self.creations.get((workspace, command_id))

    async def get(self, workspace, test_id):
        test = self.stored.get(test_id)
        return copy.deepcopy(test) if test is not None and test.workspace == workspace else None

    async def save(self, test, outbox):
        if self.on_save:
            await self.on_save.pop(0)(test)
        if self.stored[test.id].version != test.read_version:
            raise ConcurrentUpdate(test.id)
        self._keep(test, outbox)

    async def has_result(self, test_id, trace_id):
        return trace_id in self.recorded.get(test_id, {})

    async def record_result(self, test_id, result, control=False):
        results = self.recorded.setdefault(test_id, {})
        if result.trace_id in results:
            return False
        results[result.trace_id] = result
        if control:
            self.controls.add((test_id, result.trace_id))
        return True

    async def result_count(self, test_id):
        return len(self.recorded.get(test_id, {}))

    async def tally(self, test_id):
        return Tally.counting(result.verdict for trace_id, result in self.recorded.get(test_id, {}).items()
                              if (test_id, trace_id) not in self.controls)

    async def verdicts(self, test_id):
        return {trace_id: result.verdict for trace_id, result in self.recorded.get(test_id, {}).items()}

    async def results(self, test):
        return list(self.recorded.get(test.id, {}).values())

    async def active_ids_for_issue(self, workspace, issue_id):
        return [test.id for test in self.stored.values()
                if test.workspace == workspace and test.issue_id == issue_id and test.status in ACTIVE]

    async def find_page(self, workspace, query):
        mine = sorted((t for t in self.stored.values() if t.workspace == workspace
                       and query.fix_id in (None, t.fix.id) and query.status in (None, t.status)),
                      key=lambda t: t.created_at, reverse=True)
        start = (query.page - 1) * query.limit
        page = [copy.deepcopy(test) for test in mine[start:start + query.limit]]
        for test in page:
            if test.active:
                test.tally = await self.tally(test.id)
        return page, len(mine)

    def _keep(self, test, outbox):
        stored = copy.deepcopy(test)
        stored.events, stored.read_version = [], test.version
        self.stored[test.id] = stored
        self.outbox.setdefault(test.id, []).extend(outbox)

    def events(self, test_id: str) -> list[str]:
        return [envelope.type for envelope in self.outbox.get(test_id, [])]


class FakeNeighbours:
    """The fixes, issues and traces services, as dictionaries; `trace_failure` is raised by
    every trace lookup while set."""

    def __init__(self, fixes=(), traces=(), issues=()):
        self.fixes = {fix.id: fix for fix in fixes}
        self.traces = {trace.id: trace for trace in traces}
        self.issues = {issue.id: issue for issue in issues}
        self.trace_failure: Exception | None = None

    async def fix(self, ctx, fix_id):
        return self.fixes.get(fix_id)

    async def issue(self, ctx, issue_id):
        return self.issues.get(issue_id)

    async def trace(self, ctx, trace_id):
        if self.trace_failure is not None:
            raise self.trace_failure
        return self.traces.get(trace_id)

    async def missing_traces(self, ctx, trace_ids):
        return [trace_id for trace_id in trace_ids if trace_id not in self.traces]


def an_issue(issue_id: str, title: str, description: str) -> SimpleNamespace:
    """What the runner reads of an issue."""
    return SimpleNamespace(id=issue_id, title=title, description=description)


class ScriptedModel:
    """A chat endpoint answering `answer(request)` (text, or a whole `Completion` with tool
    calls), or raising `ModelError` when that is an exception; every request it was asked is kept.
    A `ParameterRefused` answer makes it refuse that parameter from then on."""

    def __init__(self, answer: Callable[[ChatRequest], str | Completion | Exception]):
        self.answer = answer
        self.requests: list[ChatRequest] = []
        self.refused: set[str] = set()

    def accepts(self, parameter: str) -> bool:
        return parameter not in self.refused

    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        answer = self.answer(request)
        if isinstance(answer, ParameterRefused):
            self.refused.add(answer.parameter)
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, Completion) else Completion(answer, 1)


def failing(cause: str) -> ScriptedModel:
    return ScriptedModel(lambda request: ModelError(cause))


class RecordingMetrics:
    def __init__(self):
        self.verdicts: list[str] = []

    def replayed(self, result) -> None:
        self.verdicts.append(result.verdict)
