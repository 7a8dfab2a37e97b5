"""A whole stack of its own for a bench or an eval run: an embedded store, the services in a
fresh bus namespace on the broker at `AMQP_URL`, and the namespace deleted when it ends."""

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
from pymongo import AsyncMongoClient

from deploy.local.clean_bus import bus_names
from deploy.local.processes import ROOT, embedded_mongo, free_port
from deploy.local.stack import Stack, new_stack
from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.handlers import create_api_key
from shared.messaging.cleanup import remove_namespace
from shared.settings import DEFAULT_AMQP_URL
from tests.support.api import Api

AMQP_URL = os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)
UNLIMITED = {"rate_limit_burst": "100000000", "rate_limit_per_second": "100000000"}


@asynccontextmanager
async def own_stack(folder: str = "bench", **settings: str
                    ) -> AsyncIterator[tuple[Stack, Callable[[str], Awaitable[Api]]]]:
    """Yields the running stack (logs in `var/<folder>`, no rate limits, `settings` on top) and a
    function making an API for a new workspace named after its argument."""
    mongo_port = free_port()
    mongo = embedded_mongo(mongo_port, None, output=subprocess.DEVNULL).start_listening(mongo_port)
    mongo_url = f"mongodb://127.0.0.1:{mongo_port}/"
    log_dir = ROOT / "var" / folder
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = new_stack(AMQP_URL, mongo_url, log_dir, **(UNLIMITED | settings))
    client = AsyncMongoClient(mongo_url)
    try:
        stack.start_all()
        async with aiohttp.ClientSession() as http:
            async def api_for(name: str) -> Api:
                store = MongoApiKeyStore(client[stack.database]["api_keys"])
                key = await create_api_key(store, f"{name}-{uuid.uuid4().hex[:6]}")
                return Api(http, stack.base_url, key.secret)

            yield stack, api_for
    finally:
        await client.close()
        stack.stop_all()
        await remove_namespace(AMQP_URL, bus_names(stack.namespace), force=True)
        mongo.stop()
