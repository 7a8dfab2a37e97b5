from datetime import UTC, datetime

import pytest

from services.fixes import bootstrap, handlers
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, NotFound, PreconditionFailed
from shared.contracts.fixes import CreateFix, FixPatch, GetFix, ListFixes, UpdateFix
from shared.contracts.issues import IssueDeleted
from shared.contracts.shadow_tests import (
    ShadowResults,
    ShadowTestCompleted,
    ShadowTestConfig,
    ShadowTestCreated,
    ShadowTestView,
)
from shared.messaging.commands import CommandContext
from tests.unit.fakes import (
    FakeAppliedCommands,
    FakeDeletedIssues,
    FakeFixRepository,
    FakeIssueDirectory,
    RecordingNotifier,
)

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)


def context(command_id="cmd-1", workspace="ws") -> CommandContext:
    return CommandContext(command_id=command_id, workspace=workspace, actor="key_1", correlation_id="corr-1")


@pytest.fixture
def deps():
    return bootstrap.build(FakeFixRepository(), FakeAppliedCommands(), FakeDeletedIssues(), FakeIssueDirectory("iss_1"),
                           RecordingNotifier(), clock=lambda: NOW)


CREATE = CreateFix(issue_id="iss_1", type="config_change", description="d", changes={"temperature": 0.1})


def update(fix_id: str, expected: list[int] | None, **patch) -> UpdateFix:
    return UpdateFix(fix_id=fix_id, patch=FixPatch(**patch), expected_versions=expected)


async def test_create_get_and_update_answer_the_version_their_fix_shows(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    replayed = await handlers.create_fix(CREATE, context(), deps)
    assert (created.version, replayed.version, replayed.replayed) == (1, 1, True)
    updated = await handlers.update_fix(update(created.fix.id, [1], description="sharper"), context("cmd-2"), deps)
    assert (updated.fix.description, updated.version) == ("sharper", 2)
    read = await handlers.get_fix(GetFix(fix_id=created.fix.id), context(), deps)
    assert (read.fix.description, read.version) == ("sharper", 2)
    assert (await handlers.create_fix(CREATE, context(), deps)).version == 1


async def test_a_conditional_update_of_a_version_not_named_is_refused_before_the_state_machine_is_asked(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    await handlers.update_fix(update(created.fix.id, None, status="rejected"), context("cmd-2"), deps)
    with pytest.raises(PreconditionFailed) as refused:
        await handlers.update_fix(update(created.fix.id, [1], status="proposed"), context("cmd-3"), deps)
    assert refused.value.message.startswith(f'Fix {created.fix.id} changed since it was read; its current ETag is "2"')
    with pytest.raises(Conflict, match="from rejected to proposed"):
        await handlers.update_fix(update(created.fix.id, [2], status="proposed"), context("cmd-4"), deps)
    assert deps.fixes.stored[created.fix.id].status == "rejected"


async def test_a_change_between_the_read_and_the_write_refuses_a_conditional_update(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    deps.fixes.after_read.append(lambda stored: setattr(stored, "description", "theirs"))
    with pytest.raises(PreconditionFailed, match='current ETag is "2"'):
        await handlers.update_fix(update(created.fix.id, [1], description="mine"), context("cmd-2"), deps)
    assert deps.fixes.stored[created.fix.id].description == "theirs"
    assert deps.fixes.events() == ["fix.created"]


async def test_a_redelivered_conditional_update_answers_as_the_first_delivery_did(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    command = update(created.fix.id, [1], status="proposed")
    first = await handlers.update_fix(command, context("cmd-2"), deps)
    again = await handlers.update_fix(command, context("cmd-2"), deps)
    assert again == first and first.version == 2
    assert deps.fixes.events() == ["fix.created", "fix.updated", "fix.status_changed"]


async def test_an_unknown_fix_is_not_found_whatever_the_condition(deps):
    with pytest.raises(NotFound):
        await handlers.update_fix(update("fix_nope", [1], description="x"), context(), deps)


async def test_an_update_redelivered_after_sixty_others_is_not_applied_again(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    first = update(created.fix.id, None, description="first")
    await handlers.update_fix(first, context("cmd-first"), deps)
    for n in range(60):
        await handlers.update_fix(update(created.fix.id, None, description=f"d{n}"), context(f"cmd-{n}"), deps)
    again = await handlers.update_fix(first, context("cmd-first"), deps)
    assert (again.fix.description, again.version) == ("d59", 62)
    assert deps.fixes.events().count("fix.updated") == 61


async def test_create_stores_the_draft_with_its_event_and_notifies_the_relay(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    assert (created.fix.status, created.fix.author, created.replayed) == ("draft", "key_1", False)
    assert deps.fixes.events() == ["fix.created"]
    assert deps.work.notify.notified == [created.fix.id]


async def test_a_fix_for_an_issue_the_issues_service_does_not_know_is_not_found_and_not_stored(deps):
    with pytest.raises(NotFound, match="Issue iss_gone not found"):
        await handlers.create_fix(CREATE.model_copy(update={"issue_id": "iss_gone"}), context(), deps)
    assert deps.fixes.stored == {} and deps.work.notify.notified == []


async def test_the_same_command_id_with_another_body_is_a_conflict(deps):
    await handlers.create_fix(CREATE, context(), deps)
    with pytest.raises(Conflict, match="different request body"):
        await handlers.create_fix(CREATE.model_copy(update={"description": "other"}), context(), deps)


def delivered(event, message_id: str, workspace="ws") -> Envelope:
    return Envelope(message_id=message_id, type=event.routing_key, workspace=workspace, correlation_id="c",
                    payload=event.to_wire())


async def test_an_issue_deleted_detaches_its_fixes_once_however_often_it_is_delivered(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    deleted = IssueDeleted(issue_id="iss_1", version=2)
    for _ in range(2):
        await handlers.on_issue_deleted(deleted, delivered(deleted, "evt-del"), deps)
    assert deps.fixes.stored[created.fix.id].issue_id is None
    assert deps.fixes.events() == ["fix.created", "fix.updated"]


async def test_a_fix_created_after_its_issue_was_deleted_ends_detached(deps):
    deleted = IssueDeleted(issue_id="iss_1", version=2)
    await handlers.on_issue_deleted(deleted, delivered(deleted, "evt-del"), deps)
    created = await handlers.create_fix(CREATE, context(), deps)
    assert (created.fix.issue_id, created.version) == (None, 2)
    assert deps.fixes.stored[created.fix.id].issue_id is None


def shadow_test_created(fix_id: str) -> ShadowTestCreated:
    view = ShadowTestView(id="st_1", fix_id=fix_id, status="pending", trace_count=1, config=ShadowTestConfig(),
                          results=ShadowResults(), created_at=NOW, started_at=None, completed_at=None)
    return ShadowTestCreated(test=view, issue_id="iss_1", version=1)


async def test_a_new_shadow_test_moves_a_draft_to_testing_once(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    event = shadow_test_created(created.fix.id)
    for _ in range(2):
        await handlers.on_shadow_test_changed(event, delivered(event, "evt-st"), deps)
    fix = deps.fixes.stored[created.fix.id]
    assert (fix.status, [test.id for test in fix.shadow_tests]) == ("testing", ["st_1"])
    assert deps.fixes.events() == ["fix.created", "fix.updated", "fix.updated", "fix.status_changed", "fix.updated",
                                   "fix.status_changed"]


async def test_a_completed_shadow_test_shows_its_recommendation_in_the_fix(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    event = shadow_test_created(created.fix.id)
    await handlers.on_shadow_test_changed(event, delivered(event, "evt-st"), deps)
    results = ShadowResults(improved=6, improvement_rate=1.0, recommendation="ship")
    done = ShadowTestCompleted(test=event.test.model_copy(update={"status": "completed", "results": results}),
                               issue_id="iss_1", version=3)
    await handlers.on_shadow_test_changed(done, delivered(done, "evt-done"), deps)
    read = await handlers.get_fix(GetFix(fix_id=created.fix.id), context(), deps)
    assert [(t.status, t.improvement_rate, t.recommendation) for t in read.fix.shadow_tests] == [
        ("completed", 1.0, "ship")]


async def test_news_of_a_shadow_test_of_an_unknown_fix_changes_nothing(deps):
    event = shadow_test_created("fix_nope")
    await handlers.on_shadow_test_changed(event, delivered(event, "evt-st"), deps)
    assert deps.fixes.events() == []


async def test_list_pages_the_workspace_fixes_newest_first(deps):
    for n in range(3):
        await handlers.create_fix(CREATE, context(f"cmd-{n}"), deps)
    await handlers.create_fix(CREATE, context("cmd-x", workspace="other"), deps)
    page = await handlers.list_fixes(ListFixes(limit=2, page=1), context(), deps)
    assert (len(page.items), page.total, page.has_more) == (2, 3, True)


async def test_a_patch_that_changes_nothing_keeps_the_version_and_emits_nothing(deps):
    created = await handlers.create_fix(CREATE, context(), deps)
    same = await handlers.update_fix(update(created.fix.id, [1], description="d"), context("cmd-2"), deps)
    assert same.version == 1
    assert deps.fixes.events() == ["fix.created"]
