"""Composition root of the fixes service: builds every part and runs them until stopped."""

import asyncio

from services.fixes.adapters.issue_directory import RpcIssueDirectory
from services.fixes.adapters.mongo_repository import MongoDeletedIssues, MongoFixRepository
from services.fixes.entrypoints.commands import command_routes
from services.fixes.entrypoints.events import subscriptions
from services.fixes.handlers import Dependencies
from shared.messaging.host import ServiceHost, main_loop
from shared.messaging.mongo import mongo_client, store_ping
from shared.settings import CommonSettings

SERVICE = "fixes"
ISSUE_LOOKUP_TIMEOUT_SECONDS = 3.0


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    fixes = MongoFixRepository(database["fixes"])
    deleted_issues = MongoDeletedIssues(database["fixes_deleted_issues"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        if await host.start(store_ping(mongo), [fixes.ensure_indexes, deleted_issues.ensure_indexes], fixes):
            issues = RpcIssueDirectory(await host.rpc_client(), ISSUE_LOOKUP_TIMEOUT_SECONDS)
            deps = Dependencies(fixes, deleted_issues, issues, host.relay.notify)
            await host.serve(command_routes(deps), subscriptions(deps))
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, CommonSettings(), run)
