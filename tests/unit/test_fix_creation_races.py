"""An issue deleted while a fix is being created for it: the issue is checked, then deleted
(its `issue.deleted` handled by the fixes service) before the new fix is in, or after it is in
but before `create_fix` looks again. The fix ends detached either way, and says so in its
answer. The fakes below run the deletion inside `create_fix`, at the step named."""

from datetime import UTC, datetime

from services.fixes import bootstrap, handlers
from shared.contracts.envelope import Envelope
from shared.contracts.fixes import CreateFix
from shared.contracts.issues import IssueDeleted
from shared.messaging.commands import CommandContext
from tests.unit.fakes import FakeAppliedCommands, FakeDeletedIssues, FakeFixRepository, RecordingNotifier

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)
CREATE = CreateFix(issue_id="iss_1", type="config_change", description="d", changes={"temperature": 0.1})
CONTEXT = CommandContext(command_id="cmd-1", workspace="ws", actor="key_1", correlation_id="corr-1")


async def delete_the_issue(deps: handlers.Dependencies) -> None:
    """What the fixes service does when `issue.deleted` for iss_1 arrives."""
    event = IssueDeleted(issue_id="iss_1", version=2)
    envelope = Envelope(message_id="evt-deleted", type=event.routing_key, workspace="ws", correlation_id="c",
                        payload=event.to_wire())
    await handlers.on_issue_deleted(event, envelope, deps)


class IssueDeletedOnceChecked:
    """The issues service says iss_1 exists; right after that answer, it is deleted."""

    def __init__(self):
        self.deps: handlers.Dependencies | None = None
        self.checked = 0

    async def exists(self, ctx, issue_id):
        self.checked += 1
        await delete_the_issue(self.deps)
        return issue_id == "iss_1"


class IssueDeletedOnceTheFixIsIn(FakeFixRepository):
    """Stores fixes; right after the first fix is inserted, iss_1 is deleted."""

    def __init__(self):
        super().__init__()
        self.deps: handlers.Dependencies | None = None

    async def add(self, fix, creation, outbox):
        await super().add(fix, creation, outbox)
        await delete_the_issue(self.deps)


class IssueExists:
    async def exists(self, ctx, issue_id):
        return issue_id == "iss_1"


async def test_an_issue_deleted_between_the_check_and_the_insert_leaves_the_new_fix_detached():
    """`on_issue_deleted` ran before the fix was stored, so it found no fix to detach: only
    `create_fix`'s second look at the deletions can detach it."""
    directory = IssueDeletedOnceChecked()
    deps = bootstrap.build(FakeFixRepository(), FakeAppliedCommands(), FakeDeletedIssues(), directory,
                           RecordingNotifier(), clock=lambda: NOW)
    directory.deps = deps
    created = await handlers.create_fix(CREATE, CONTEXT, deps)
    assert directory.checked == 1
    assert created.fix.issue_id is None and created.version == 2 and not created.replayed
    assert deps.fixes.stored[created.fix.id].issue_id is None
    assert deps.fixes.events() == ["fix.created", "fix.updated"]


async def test_an_issue_deleted_once_the_fix_is_in_leaves_it_detached_once():
    """`on_issue_deleted` ran after the insert and detached the fix; `create_fix` sees the
    deletion too, and answers with the detached fix without changing it again."""
    fixes = IssueDeletedOnceTheFixIsIn()
    deps = bootstrap.build(fixes, FakeAppliedCommands(), FakeDeletedIssues(), IssueExists(), RecordingNotifier(),
                           clock=lambda: NOW)
    fixes.deps = deps
    created = await handlers.create_fix(CREATE, CONTEXT, deps)
    assert created.fix.issue_id is None and created.version == 2
    assert fixes.stored[created.fix.id].issue_id is None
    assert fixes.events() == ["fix.created", "fix.updated"]
