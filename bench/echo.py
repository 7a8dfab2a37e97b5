"""The message hop alone: an HTTP front that sends every request as a command over RabbitMQ to
an echo service, which answers at once (no store).

    python -m bench.echo front --port 8091     python -m bench.echo back
(AMQP_URL and BUS_NAMESPACE from the environment)
"""

import argparse
import asyncio
import uuid

from aiohttp import web

from shared.contracts.common import ContractModel
from shared.contracts.envelope import Envelope
from shared.messaging.commands import CommandRoute, CommandServer
from shared.messaging.connection import connect
from shared.messaging.host import run_until_signalled
from shared.messaging.rpc import RpcClient
from shared.messaging.topology import Topology
from shared.settings import CommonSettings

SERVICE = "bench_echo"
RPC = web.AppKey("rpc", RpcClient)


class Echo(ContractModel):
    text: str


async def echo(command: Echo, _ctx) -> dict:
    return {"text": command.text}


async def back(stop: asyncio.Event) -> None:
    settings = CommonSettings()
    connection = await connect(settings.amqp_url, "bench-echo-back")
    server = CommandServer(connection, Topology(settings.bus_namespace), SERVICE,
                           {"bench.echo": CommandRoute(Echo, echo)}, settings.prefetch_count)
    await server.start()
    await stop.wait()
    await connection.close()


async def front_handler(request: web.Request) -> web.Response:
    envelope = Envelope(type="bench.echo", workspace="bench", correlation_id=uuid.uuid4().hex,
                        payload=await request.json())
    reply = await request.app[RPC].call(SERVICE, envelope, 10)
    return web.json_response({"success": reply.ok, "data": reply.data})


def front(port: int) -> None:
    settings = CommonSettings()
    application = web.Application()

    async def resources(application: web.Application):
        connection = await connect(settings.amqp_url, "bench-echo-front")
        rpc = RpcClient(connection, Topology(settings.bus_namespace), start_margin=1)
        await rpc.start()
        application[RPC] = rpc
        yield
        await connection.close()

    application.cleanup_ctx.append(resources)
    application.router.add_post("/echo", front_handler)
    web.run_app(application, host="127.0.0.1", port=port, access_log=None, print=None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["front", "back"])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "back":
        run_until_signalled(back)
    else:
        front(args.port)


if __name__ == "__main__":
    main()
