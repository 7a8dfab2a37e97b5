"""An RPC client on a stack's namespace, as a service has one, for tests that send commands
over the real broker."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika

from shared.messaging.rpc import RpcClient
from shared.messaging.topology import Topology


@asynccontextmanager
async def rpc_client(stack) -> AsyncIterator[tuple[RpcClient, aio_pika.abc.AbstractRobustConnection]]:
    connection = await aio_pika.connect_robust(stack.amqp_url)
    try:
        rpc = RpcClient(connection, Topology(stack.namespace), start_margin=1.0)
        await rpc.start()
        yield rpc, connection
    finally:
        await connection.close()
