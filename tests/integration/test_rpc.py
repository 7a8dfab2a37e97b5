"""Request/reply between an RpcClient and a CommandServer over the real broker."""

import asyncio
import time

import aio_pika
import pytest

from shared.contracts.common import ContractModel
from shared.contracts.envelope import Envelope
from shared.contracts.errors import NotFound
from shared.messaging.commands import CommandRoute, CommandServer
from shared.messaging.rpc import START_BY_HEADER, ReplyTimeout, RpcClient, ServiceNotRunning
from shared.messaging.topology import Topology
from tests.support.infrastructure import broker_endpoint, through
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually


class Echo(ContractModel):
    text: str


class Recorder:
    def __init__(self):
        self.seen: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def echo(self, command: Echo, ctx):
        self.seen.append(command.text)
        if command.text.startswith("slow"):
            await self.release.wait()
        if command.text == "missing":
            raise NotFound("no such thing")
        if command.text == "bug":
            raise ZeroDivisionError("oops")
        return {"echo": command.text, "workspace": ctx.workspace, "commandId": ctx.command_id}


@pytest.fixture
async def parts(amqp, namespace):
    topology = Topology(namespace)
    connection = await aio_pika.connect_robust(amqp)
    recorder = Recorder()
    server = CommandServer(connection, topology, "echo", {"echo.say": CommandRoute(Echo, recorder.echo)}, prefetch=1)
    client = RpcClient(connection, topology, start_margin=0.2)
    await client.start()
    yield topology, connection, server, client, recorder
    await connection.close()


def say(text: str, message_id: str | None = None) -> Envelope:
    fields = {"message_id": message_id} if message_id else {}
    return Envelope(type="echo.say", workspace="ws", correlation_id="c", payload={"text": text}, **fields)


async def test_a_reply_comes_back_with_the_handlers_data(parts):
    _, _, server, client, _ = parts
    await server.start()
    envelope = say("hello")
    reply = await client.call("echo", envelope, timeout=5)
    assert reply.ok and reply.data == {"echo": "hello", "workspace": "ws", "commandId": envelope.message_id}
    replies = await asyncio.gather(*(client.call("echo", say(f"n{n}"), timeout=5) for n in range(20)))
    assert [r.data["echo"] for r in replies] == [f"n{n}" for n in range(20)]


async def test_expected_errors_travel_back_typed(parts):
    _, _, server, client, _ = parts
    await server.start()
    reply = await client.call("echo", say("missing"), timeout=5)
    assert not reply.ok and reply.error.code == "NOT_FOUND" and reply.error.message == "no such thing"


async def test_a_crashing_handler_answers_internal_error_and_dead_letters_the_command(parts):
    topology, connection, server, client, recorder = parts
    await server.start()
    reply = await client.call("echo", say("bug", message_id="bug-1"), timeout=5)
    assert reply.error.code == "INTERNAL_ERROR"
    channel = await connection.channel()
    dead = await channel.get_queue(topology.dead_letter_queue(topology.command_queue("echo")), ensure=False)
    message = await eventually(lambda: dead.get(fail=False), 5, "the command in the dead-letter queue")
    assert message.message_id == "bug-1"
    assert recorder.seen == ["bug"]


async def test_a_service_that_never_started_is_reported_at_once(parts):
    _, _, _, client, _ = parts
    started = time.monotonic()
    with pytest.raises(ServiceNotRunning):
        await client.call("nobody", say("x"), timeout=5)
    assert time.monotonic() - started < 5


async def test_a_command_nobody_took_in_time_expires_unexecuted(parts):
    topology, connection, server, client, recorder = parts
    channel = await connection.channel()
    await server.start()
    await server.stop()
    with pytest.raises(ReplyTimeout):
        await client.call("echo", say("too late", message_id="late-1"), timeout=0.3)
    dead = await channel.get_queue(topology.dead_letter_queue(topology.command_queue("echo")), ensure=False)
    message = await eventually(lambda: dead.get(fail=False), 5, "the expired command to be dead-lettered")
    assert message.message_id == "late-1"
    assert message.headers["x-death"][0]["reason"] == "expired"
    await server.start()
    assert (await client.call("echo", say("on time"), timeout=5)).ok
    assert recorder.seen == ["on time"]


async def test_a_command_taken_after_its_start_by_deadline_is_discarded(parts):
    topology, connection, server, client, recorder = parts
    await server.start()
    channel = await connection.channel()
    exchange = await channel.get_exchange(topology.commands_exchange)
    past = int(time.time() * 1000) - 1
    await exchange.publish(aio_pika.Message(say("stale").to_bytes(), headers={START_BY_HEADER: past}), "echo")
    assert (await client.call("echo", say("fresh"), timeout=5)).ok
    assert recorder.seen == ["fresh"]


async def test_a_command_discarded_past_its_start_by_is_answered_timeout_at_once(parts):
    topology, connection, server, client, recorder = parts
    await server.start()
    patient = RpcClient(connection, topology, start_margin=1.5)
    await patient.start()
    recorder.release.clear()
    blocker = asyncio.create_task(client.call("echo", say("slow-blocker"), timeout=10))
    await eventually(lambda: recorder.seen == ["slow-blocker"], 5, "the blocker to occupy the only slot")
    started = time.monotonic()
    late = asyncio.create_task(patient.call("echo", say("too late"), timeout=3))
    await eventually(lambda: time.monotonic() - started > 1.6, 5, "the late command's start-by to pass")
    recorder.release.set()
    reply = await late
    assert reply.error.code == "TIMEOUT"
    assert time.monotonic() - started < 3
    assert recorder.seen == ["slow-blocker"]
    await blocker


async def test_losing_the_connection_after_publishing_is_waited_out_not_reported_as_not_done(amqp, namespace):

    topology = Topology(namespace)
    server_connection = await aio_pika.connect_robust(amqp)
    recorder = Recorder()
    recorder.release.clear()
    server = CommandServer(server_connection, topology, "echo", {"echo.say": CommandRoute(Echo, recorder.echo)}, 1)
    await server.start()
    with TcpProxy(*broker_endpoint(amqp)) as proxy:
        client_connection = await aio_pika.connect_robust(through(amqp, proxy.port))
        client = RpcClient(client_connection, topology, start_margin=0.2)
        await client.start()
        call = asyncio.create_task(client.call("echo", say("slow-and-cut"), timeout=2))
        await eventually(lambda: recorder.seen == ["slow-and-cut"], 5, "the command to reach the service")
        proxy.cut()
        recorder.release.set()
        with pytest.raises(ReplyTimeout):
            await call
        proxy.restore()
        await client_connection.close()
    assert recorder.seen == ["slow-and-cut"]
    await server_connection.close()
