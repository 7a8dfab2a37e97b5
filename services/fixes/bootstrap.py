"""Composition root of the fixes service: builds every part and runs them until stopped."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from services.fixes.adapters.issue_directory import RpcIssueDirectory
from services.fixes.adapters.mongo_repository import MongoDeletedIssues, MongoFixRepository
from services.fixes.entrypoints.commands import command_routes
from services.fixes.entrypoints.events import subscriptions
from services.fixes.handlers import Dependencies
from services.fixes.ports import AppliedCommands, DeletedIssues, FixRepository, IssueDirectory
from shared.contracts.common import utc_now
from shared.messaging.host import ServiceHost, main_loop
from shared.settings import CommonSettings
from shared.store.mongo import mongo_client, store_ping
from shared.store.tracking import MongoAppliedCommands
from shared.store.unit_of_work import Aggregates

SERVICE = "fixes"
ISSUE_LOOKUP_TIMEOUT_SECONDS = 3.0


def build(
    fixes: FixRepository,
    applied_commands: AppliedCommands,
    deleted_issues: DeletedIssues,
    issues: IssueDirectory,
    notify: Callable[[str], None],
    clock: Callable[[], datetime] = utc_now,
) -> Dependencies:
    """The handlers' dependencies over these adapters: MongoDB and RPC ones in `run`, in-memory
    fakes in unit tests."""
    work = Aggregates(fixes, notify, applied_commands, "Fix", clock)
    return Dependencies(fixes, deleted_issues, issues, work, clock)


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    fixes = MongoFixRepository(database["fixes"])
    applied_commands = MongoAppliedCommands(database["fixes_applied_commands"])
    deleted_issues = MongoDeletedIssues(database["fixes_deleted_issues"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        prepare = [fixes.ensure_indexes, applied_commands.ensure_indexes, deleted_issues.ensure_indexes]
        if await host.start(store_ping(mongo), prepare, fixes):
            issues = RpcIssueDirectory(await host.rpc_client(), ISSUE_LOOKUP_TIMEOUT_SECONDS)
            deps = build(fixes, applied_commands, deleted_issues, issues, host.relay.notify)
            await host.serve(command_routes(deps), subscriptions(deps))
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, CommonSettings(), run)
