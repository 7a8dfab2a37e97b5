"""Composition root of the issues service: builds every part and runs them until stopped."""

import asyncio

from services.issues.adapters.mongo_repository import MongoIssueRepository
from services.issues.adapters.shadow_tests import RpcShadowTestDirectory
from services.issues.adapters.trace_facts import MongoTraceFacts
from services.issues.entrypoints.commands import command_routes
from services.issues.entrypoints.events import subscriptions
from services.issues.handlers import Dependencies
from shared.messaging.host import ServiceHost, main_loop
from shared.messaging.mongo import mongo_client, store_ping
from shared.settings import CommonSettings

SERVICE = "issues"
SHADOW_TEST_LOOKUP_TIMEOUT_SECONDS = 3.0


async def run(settings: CommonSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    repository = MongoIssueRepository(database["issues"])
    trace_facts = MongoTraceFacts(database["issues_trace_facts"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        if await host.start(store_ping(mongo), [repository.ensure_indexes, trace_facts.ensure_indexes], repository):
            shadow_tests = RpcShadowTestDirectory(await host.rpc_client(), SHADOW_TEST_LOOKUP_TIMEOUT_SECONDS)
            deps = Dependencies(repository, trace_facts, shadow_tests, host.relay.notify)
            await host.serve(command_routes(deps), subscriptions(deps))
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, CommonSettings(), run)
