from datetime import UTC, datetime

import pytest

from services.fixes import bootstrap, handlers
from shared.contracts.errors import Conflict, NotFound, PreconditionFailed
from shared.contracts.fixes import CreateFix, FixPatch, GetFix, UpdateFix
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
