import uuid
from contextlib import asynccontextmanager

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from deploy.local.demo_model import JUDGE_MODEL, DemoModel
from deploy.local.stack import Stack, new_stack
from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.domain.api_keys import hash_key
from services.gateway.handlers import create_api_key
from tests.support.api import Api
from tests.support.infrastructure import amqp_url, delete_namespaces, mongodb_url
from tests.support.local_run import LocalRun


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def amqp() -> str:
    return amqp_url()


@pytest.fixture(scope="session")
async def namespaces(amqp):
    """Every bus namespace the run uses; their queues and exchanges are deleted at the end."""
    used: set[str] = set()
    yield used
    await delete_namespaces(amqp, used)


@pytest.fixture
def namespace(namespaces):
    name = "it" + uuid.uuid4().hex[:10]
    namespaces.add(name)
    return name


@pytest.fixture(scope="session")
def mongo(log_dir):
    with mongodb_url(log_dir) as url:
        yield url


@pytest.fixture(scope="session")
async def mongo_client(mongo):
    client = AsyncMongoClient(mongo, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture(scope="session")
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture(scope="session")
def fake_model():
    with DemoModel() as model:
        yield model


def model_settings(model: DemoModel) -> dict[str, str]:
    return {
        "replay_model_base_url": model.url,
        "judge_model_base_url": model.url,
        "judge_model": JUDGE_MODEL,
        "model_max_attempts": "3",
        "model_timeout_seconds": "10",
        "shadow_execution_timeout_seconds": "5",
        "rate_limit_burst": "1000000",
        "rate_limit_per_second": "100000",
        "auth_failure_burst": "1000000",
        "auth_failure_per_second": "100000",
        "otlp_quiet_period_seconds": "1",
    }


@asynccontextmanager
async def running_stack(amqp: str, mongo: str, log_dir, mongo_client: AsyncMongoClient, namespaces: set[str],
                        **settings: str):
    """A whole system in its own bus namespace and database, both deleted when it ends, however
    it ends."""
    running = new_stack(amqp, mongo, log_dir, **settings)
    namespaces.add(running.namespace)
    try:
        yield running.start_all()
    finally:
        running.stop_all()
        await mongo_client.drop_database(running.database)
        await delete_namespaces(amqp, {running.namespace})


@pytest.fixture(scope="session")
async def stack(amqp, mongo, log_dir, mongo_client, namespaces, fake_model):
    """One running system shared by the end-to-end tests; each test works in its own workspace.
    Its replay and judge model is the local fake."""
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, **model_settings(fake_model)) as running:
        yield running


async def workspace_api(stack: Stack, mongo_client: AsyncMongoClient, http: aiohttp.ClientSession,
                        workspace: str | None = None) -> Api:
    store = MongoApiKeyStore(mongo_client[stack.database]["api_keys"])
    workspace = workspace or f"ws-{uuid.uuid4().hex[:10]}"
    issued = await create_api_key(store, workspace)
    return Api(http, stack.base_url, issued.secret, workspace)


HOOK_TIMEOUT_SECONDS = 1.0
HOOK_SETTINGS = {
    "webhook_allow_private": "true",
    "webhook_timeout_seconds": str(HOOK_TIMEOUT_SECONDS),
    "webhook_retry_delays_seconds": "0.3,0.6,1.2,2.4,4.8,4.8",
    "webhook_disable_after_seconds": "10",
    "webhook_sweep_interval_seconds": "1",
}
"""The webhook tests' delivery service: it may call receivers on 127.0.0.1, and its day of
retries (and the day of failures that disables an endpoint) is compressed into seconds."""


@pytest.fixture(scope="session")
async def hooks_stack(amqp, mongo, log_dir, mongo_client, namespaces, fake_model):
    """A second system, for the webhook tests (see `HOOK_SETTINGS`)."""
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, **model_settings(fake_model),
                             **HOOK_SETTINGS) as running:
        yield running


@pytest.fixture
async def hooks_api(hooks_stack, mongo_client, http) -> Api:
    return await workspace_api(hooks_stack, mongo_client, http)


@pytest.fixture
async def api(stack, mongo_client, http) -> Api:
    return await workspace_api(stack, mongo_client, http)


@pytest.fixture
async def workspace(api, stack, mongo_client) -> str:
    """The workspace of the `api` fixture's key."""
    document = await mongo_client[stack.database]["api_keys"].find_one({"_id": hash_key(api.key)})
    return document["workspace"]


@pytest.fixture
async def local_runs(tmp_path, amqp, namespaces):
    """Makes `make run`s with every port moved (see LocalRun); whatever they started is killed
    when the test ends, however it ends, and their bus namespaces deleted."""
    runs: list[LocalRun] = []

    def make(**settings: str) -> LocalRun:
        run = LocalRun.moved(tmp_path, amqp, **settings)
        namespaces.add(run.namespace)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.kill_everything()
    await delete_namespaces(amqp, {run.namespace for run in runs})
