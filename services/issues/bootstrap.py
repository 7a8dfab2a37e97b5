"""Composition root of the issues service: builds every part and runs them until stopped."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from services.issues.adapters.mongo_repository import MongoIssueRepository
from services.issues.adapters.shadow_tests import RpcShadowTestDirectory
from services.issues.adapters.trace_facts import MongoTraceFacts
from services.issues.entrypoints.commands import command_routes
from services.issues.entrypoints.events import subscriptions
from services.issues.handlers import Dependencies
from services.issues.ports import AppliedCommands, IssueRepository, ShadowTestDirectory, TraceFacts
from shared.contracts.common import utc_now
from shared.messaging.host import ServiceHost, main_loop
from shared.settings import CommonSettings
from shared.store.mongo import mongo_client, store_ping
from shared.store.tracking import MongoAppliedCommands
from shared.store.unit_of_work import Aggregates

SERVICE = "issues"
SHADOW_TEST_LOOKUP_TIMEOUT_SECONDS = 3.0


def build(
    issues: IssueRepository,
    applied_commands: AppliedCommands,
    trace_facts: TraceFacts,
    shadow_tests: ShadowTestDirectory,
    notify: Callable[[str], None],
    clock: Callable[[], datetime] = utc_now,
) -> Dependencies:
    """The handlers' dependencies over these adapters: MongoDB and RPC ones in `run`, in-memory
    fakes in unit tests."""
    work = Aggregates(issues, notify, applied_commands, "Issue", clock)
    return Dependencies(issues, trace_facts, shadow_tests, work, clock)


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    repository = MongoIssueRepository(database["issues"])
    applied_commands = MongoAppliedCommands(database["issues_applied_commands"])
    trace_facts = MongoTraceFacts(database["issues_trace_facts"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        prepare = [repository.ensure_indexes, applied_commands.ensure_indexes, trace_facts.ensure_indexes]
        if await host.start(store_ping(mongo), prepare, repository):
            shadow_tests = RpcShadowTestDirectory(await host.rpc_client(), SHADOW_TEST_LOOKUP_TIMEOUT_SECONDS)
            deps = build(repository, applied_commands, trace_facts, shadow_tests, host.relay.notify)
            await host.serve(command_routes(deps), subscriptions(deps))
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, CommonSettings(), run)
