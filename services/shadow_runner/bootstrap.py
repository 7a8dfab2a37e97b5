"""Composition root of the shadow runner: builds every part and runs them until stopped."""

import asyncio

import aiohttp

from services.shadow_runner.adapters.chat_model import ChatModel
from services.shadow_runner.adapters.mongo_repository import MongoShadowTests
from services.shadow_runner.adapters.remote import RemoteServices
from services.shadow_runner.entrypoints.commands import command_routes
from services.shadow_runner.entrypoints.work import work_queues
from services.shadow_runner.evaluation import Evaluator
from services.shadow_runner.handlers import Dependencies
from services.shadow_runner.settings import RunnerSettings
from shared.messaging.host import ServiceHost, main_loop
from shared.store.mongo import mongo_client, store_ping

SERVICE = "shadow_runner"
SYNC_CONCURRENCY = 4


def evaluator(settings: RunnerSettings, http: aiohttp.ClientSession, concurrency: int) -> Evaluator:
    def model(base_url: str | None, api_key: str | None, label: str) -> ChatModel | None:
        if not base_url:
            return None
        return ChatModel(http, base_url, api_key, timeout=settings.model_timeout_seconds,
                         max_attempts=settings.model_max_attempts, concurrency=concurrency, label=label)

    return Evaluator(
        replay_model=model(settings.replay_model_base_url, settings.replay_model_api_key, "replay"),
        judge=model(settings.judge_model_base_url, settings.judge_model_api_key, "judge"),
        judge_model_name=settings.judge_model,
        model_override=settings.replay_model,
        margin=settings.score_margin,
    )


async def run(settings: RunnerSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    tests = MongoShadowTests(database["shadow_tests"], database["shadow_test_results"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        if await host.start(store_ping(mongo), [tests.ensure_indexes], tests):
            remote = RemoteServices(await host.rpc_client(), settings.lookup_timeout_seconds)
            async with aiohttp.ClientSession() as http:
                deps = Dependencies(
                    tests,
                    remote,
                    evaluator(settings, http, settings.replay_concurrency),
                    host.relay.notify,
                    sync_evaluator=evaluator(settings, http, SYNC_CONCURRENCY),
                )
                await host.serve(command_routes(deps), work_queues(deps, settings.replay_concurrency))
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, RunnerSettings(), run)
