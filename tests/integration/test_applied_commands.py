"""The record of the commands an issue applied, against a real MongoDB wire server: a command
redelivered within its window is not applied again, however many came in between, also when
the service stopped between saving the issue and recording the command."""

import uuid

import pytest

from services.issues import bootstrap, handlers
from services.issues.adapters.mongo_repository import MongoIssueRepository
from services.issues.adapters.trace_facts import MongoTraceFacts
from shared.contracts.errors import Unavailable
from shared.contracts.issues import CreateIssue, IssuePatch, UpdateIssue
from shared.messaging.commands import CommandContext
from shared.store.tracking import APPLIED_COMMANDS_KEPT_FOR, MongoAppliedCommands


class NoShadowTests:
    async def active_for(self, ctx, issue_id):
        return []


class StoppingAfterTheSave(MongoAppliedCommands):
    """Fails to record `command_id` once: the store lost right after the issue was saved (or the
    service stopped then)."""

    def __init__(self, collection, command_id: str):
        super().__init__(collection)
        self.command_id = command_id

    async def record(self, aggregate_id, command_ids, applied_at):
        if self.command_id in command_ids:
            self.command_id = None
            raise Unavailable("stopped")
        await super().record(aggregate_id, command_ids, applied_at)


@pytest.fixture
async def database(mongo_client):
    database = mongo_client[f"it_{uuid.uuid4().hex[:10]}"]
    yield database
    await mongo_client.drop_database(database.name)


async def service(database, applied: MongoAppliedCommands) -> handlers.Dependencies:
    repository = MongoIssueRepository(database["issues"])
    await repository.ensure_indexes()
    await applied.ensure_indexes()
    return bootstrap.build(repository, applied, MongoTraceFacts(database["issues_trace_facts"]), NoShadowTests(),
                           lambda _id: None)


def context(command_id: str) -> CommandContext:
    return CommandContext(command_id=command_id, workspace="ws", actor="key_1", correlation_id="corr-1")


def tags(issue_id: str, *values: str) -> UpdateIssue:
    return UpdateIssue(issue_id=issue_id, patch=IssuePatch(tags=list(values)))


async def stored_events(database, issue_id: str) -> list[str]:
    document = await database["issues"].find_one({"_id": issue_id})
    return [entry["envelope"]["type"] for entry in document["outbox"]]


async def test_an_update_redelivered_after_sixty_others_is_not_applied_again(database):
    deps = await service(database, MongoAppliedCommands(database["issues_applied_commands"]))
    created = await handlers.create_issue(CreateIssue(title="t", description="d", agent_id="a", severity="low"),
                                          context("cmd-create"), deps)
    issue_id = created.issue.id
    await handlers.update_issue(tags(issue_id, "first"), context("cmd-first"), deps)
    for n in range(60):
        await handlers.update_issue(tags(issue_id, f"t{n}"), context(f"cmd-{n}"), deps)
    again = await handlers.update_issue(tags(issue_id, "first"), context("cmd-first"), deps)
    assert (again.issue.tags, again.version) == (["t59"], 62)
    assert (await stored_events(database, issue_id)).count("issue.updated") == 61


async def test_a_command_applied_but_not_yet_recorded_is_not_applied_again(database):
    applied = StoppingAfterTheSave(database["issues_applied_commands"], "cmd-first")
    deps = await service(database, applied)
    created = await handlers.create_issue(CreateIssue(title="t", description="d", agent_id="a", severity="low"),
                                          context("cmd-create"), deps)
    issue_id = created.issue.id
    await handlers.update_issue(tags(issue_id, "first"), context("cmd-first"), deps)
    assert not await applied.contains(issue_id, "cmd-first")
    again = await handlers.update_issue(tags(issue_id, "first"), context("cmd-first"), deps)
    assert (again.issue.tags, again.version) == (["first"], 2)
    for n in range(60):
        await handlers.update_issue(tags(issue_id, f"t{n}"), context(f"cmd-{n}"), deps)
    assert await applied.contains(issue_id, "cmd-first")
    again = await handlers.update_issue(tags(issue_id, "first"), context("cmd-first"), deps)
    assert (again.issue.tags, again.version) == (["t59"], 62)


async def test_records_expire_after_their_window(database):
    applied = MongoAppliedCommands(database["issues_applied_commands"])
    await applied.ensure_indexes()
    indexes = await database["issues_applied_commands"].index_information()
    windows = [index.get("expireAfterSeconds") for index in indexes.values() if index["key"] == [("appliedAt", 1)]]
    assert windows == [APPLIED_COMMANDS_KEPT_FOR.total_seconds()] and APPLIED_COMMANDS_KEPT_FOR.days == 7
