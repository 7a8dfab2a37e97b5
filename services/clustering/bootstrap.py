"""Composition root of the clustering service: builds every part and runs them until stopped."""

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import datetime

import aiohttp
import structlog

from services.clustering.adapters.chat_namer import ChatIssueNamer
from services.clustering.adapters.issue_commands import RpcIssueCommands
from services.clustering.adapters.mongo_repository import MongoAgentRecords, MongoManualTraces, MongoSettings
from services.clustering.entrypoints.commands import command_routes
from services.clustering.entrypoints.events import subscriptions
from services.clustering.handlers import Dependencies
from services.clustering.ports import AgentRecords, Embedder, IssueCommands, IssueNamer, ManualTraces, SettingsStore
from services.clustering.settings import ClusteringServiceSettings
from shared.contracts.common import utc_now
from shared.messaging.host import ServiceHost, main_loop
from shared.store.mongo import mongo_client, store_ping

SERVICE = "clustering"
log = structlog.get_logger(__name__)


def build(
    settings: SettingsStore,
    records: AgentRecords,
    manual: ManualTraces,
    issues: IssueCommands,
    embedder: Embedder,
    clock: Callable[[], datetime] = utc_now,
    namer: IssueNamer | None = None,
) -> Dependencies:
    """The handlers' dependencies: MongoDB, RPC and a real model in `run`; fakes in unit tests."""
    return Dependencies(settings, records, manual, issues, embedder, clock, namer)


def load_embedder(settings: ClusteringServiceSettings) -> Embedder:
    """The configured model, loaded (or its endpoint probed) once; blocking, so run off the loop."""
    if settings.embeddings_base_url:
        from services.clustering.adapters.http_embedder import HttpEmbedder

        return HttpEmbedder(settings.embeddings_base_url, settings.embeddings_model, settings.embeddings_api_key,
                            settings.embeddings_timeout_seconds)
    if settings.embeddings_local_model == "minilm":
        from services.clustering.adapters.minilm_embedder import MiniLmEmbedder

        return MiniLmEmbedder()
    from services.clustering.adapters.wordllama_embedder import WordLlamaEmbedder

    return WordLlamaEmbedder()


async def run(settings: ClusteringServiceSettings, stop: asyncio.Event) -> None:
    async with AsyncExitStack() as resources:
        mongo = mongo_client(settings, SERVICE)
        resources.push_async_callback(mongo.close)
        http = await resources.enter_async_context(aiohttp.ClientSession()) if settings.label_model_base_url else None
        database = mongo[settings.mongodb_database]
        workspace_settings = MongoSettings(database["clustering_settings"])
        records = MongoAgentRecords(database["clustering_agents"])
        manual = MongoManualTraces(database["clustering_manual_issues"])
        host = ServiceHost(SERVICE, settings, stop)
        resources.push_async_callback(host.close)
        if await host.start(store_ping(mongo), [records.ensure_indexes, manual.ensure_indexes]):
            embedder = await asyncio.to_thread(load_embedder, settings)
            log.info("embedding model loaded", model=type(embedder).__name__, dimension=embedder.dimension)
            issues = RpcIssueCommands(await host.rpc_client(), settings.issues_timeout_seconds)
            deps = build(workspace_settings, records, manual, issues, embedder, namer=label_model(settings, http))
            await host.serve(command_routes(deps), subscriptions(deps))


def label_model(settings: ClusteringServiceSettings, http: aiohttp.ClientSession | None) -> IssueNamer | None:
    """The model that names new issues; `http` is opened only when `LABEL_MODEL_BASE_URL` is set,
    and closes after the host, whose handlers use it."""
    if http is None:
        return None
    log.info("new issues are named by a language model", base_url=settings.label_model_base_url,
             model=settings.label_model)
    return ChatIssueNamer(http, settings.label_model_base_url, settings.label_model, settings.label_model_api_key,
                          timeout=settings.label_model_timeout_seconds)


def main() -> None:
    main_loop(SERVICE, ClusteringServiceSettings(), run)
