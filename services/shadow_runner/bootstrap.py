"""Composition root of the shadow runner: builds every part and runs them until stopped."""

import asyncio
from collections.abc import Callable
from datetime import datetime

import aiohttp

from services.shadow_runner.adapters.chat_model import ChatModel
from services.shadow_runner.adapters.metrics import PrometheusReplayMetrics
from services.shadow_runner.adapters.mongo_repository import MongoShadowTests
from services.shadow_runner.adapters.remote import RemoteServices
from services.shadow_runner.domain.commands import WORK
from services.shadow_runner.entrypoints.commands import command_routes
from services.shadow_runner.entrypoints.work import work_queues
from services.shadow_runner.handlers import Dependencies, Models
from services.shadow_runner.ports import Neighbours, ReplayMetrics, ShadowTests
from services.shadow_runner.settings import RunnerSettings
from shared.contracts.common import utc_now
from shared.messaging.host import ServiceHost, main_loop
from shared.store.mongo import mongo_client, store_ping

SERVICE = "shadow_runner"
SYNC_CONCURRENCY = 4


def build(
    tests: ShadowTests,
    remote: Neighbours,
    models: Models,
    notify: Callable[[str], None],
    sync_models: Models | None = None,
    metrics: ReplayMetrics | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Dependencies:
    """The handlers' dependencies: the real adapters (from `run`) or in-memory ones (unit tests).
    Replays are counted in the process's Prometheus metrics unless `metrics` says otherwise."""
    return Dependencies(tests, remote, models, notify, metrics or PrometheusReplayMetrics(), clock=clock,
                        sync_models=sync_models)


def chat_models(settings: RunnerSettings, http: aiohttp.ClientSession, concurrency: int) -> Models:
    """The configured endpoints, each client with `concurrency` calls in flight at most."""

    def model(base_url: str | None, api_key: str | None, label: str) -> ChatModel | None:
        if not base_url:
            return None
        return ChatModel(http, base_url, api_key, timeout=settings.model_timeout_seconds,
                         max_attempts=settings.model_max_attempts, concurrency=concurrency, label=label)

    return Models(
        replay=model(settings.replay_model_base_url, settings.replay_model_api_key, "replay"),
        judge=model(settings.judge_model_base_url, settings.judge_model_api_key, "judge"),
        judge_model_name=settings.judge_model,
        model_override=settings.replay_model,
        margin=settings.score_margin,
        max_replay_steps=settings.max_replay_steps,
    )


async def run(settings: RunnerSettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, SERVICE)
    database = mongo[settings.mongodb_database]
    tests = MongoShadowTests(database["shadow_tests"], database["shadow_test_results"])
    host = ServiceHost(SERVICE, settings, stop)
    try:
        if await host.start(store_ping(mongo), [tests.ensure_indexes], tests, work=WORK):
            remote = RemoteServices(await host.rpc_client(), settings.lookup_timeout_seconds)
            async with aiohttp.ClientSession() as http:
                deps = build(tests, remote, chat_models(settings, http, settings.replay_concurrency), host.relay.notify,
                             sync_models=chat_models(settings, http, SYNC_CONCURRENCY))
                await host.serve(command_routes(deps), work_queues(deps, settings.replay_concurrency))
    finally:
        await host.close()
        await mongo.close()


def main() -> None:
    main_loop(SERVICE, RunnerSettings(), run)
