"""Request/reply over RabbitMQ: the service's side.

Delivery semantics, per command message:
- malformed (not an envelope, unknown type, payload not matching its contract): an error
  reply if the caller can be told, then rejected without requeue into the dead-letter queue;
- past its `x-start-by` deadline: answered `TIMEOUT` at once, acknowledged and discarded
  unexecuted (the caller is about to give up on it);
- handled: the handler's result, or its `ExpectedError`, is replied, then the message is
  acknowledged, so a crash before the acknowledgement redelivers it and handlers must be
  idempotent by `message_id`;
- any other exception: logged, answered `INTERNAL_ERROR`, then dead-lettered, never retried
  behind the caller's back.
Handlers run concurrently, at most `prefetch` at a time per process.
"""

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import BaseModel, ValidationError

from shared.contracts.envelope import Envelope, Reply
from shared.contracts.errors import ErrorBody, ErrorCode, ExpectedError
from shared.messaging.consuming import InFlight
from shared.messaging.deadline import command_deadline
from shared.messaging.metrics import MESSAGE_SECONDS, MESSAGES_HANDLED
from shared.messaging.rpc import CORRELATION_HEADER, DEADLINE_HEADER, START_BY_HEADER
from shared.messaging.topology import Topology, declare_commands_exchange, declare_work_queue

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CommandContext:
    command_id: str
    workspace: str
    actor: str | None
    correlation_id: str

    @classmethod
    def of(cls, envelope: Envelope) -> "CommandContext":
        """The context of a message, for work caused by an event as much as by a command."""
        return cls(envelope.message_id, envelope.workspace, envelope.actor, envelope.correlation_id)


type Handler = Callable[[Any, CommandContext], Awaitable[BaseModel | dict]]


@dataclass(frozen=True)
class CommandRoute:
    contract: type[BaseModel]
    handler: Handler


def routes_for(handlers: Mapping[type[BaseModel], Callable[..., Awaitable[Any]]], deps: Any) -> dict[str, CommandRoute]:
    """Routes each contract's `message_type` to its handler, with the service's dependencies bound."""
    return {
        contract.message_type: CommandRoute(contract, partial(handler, deps=deps))
        for contract, handler in handlers.items()
    }


class MalformedCommand(Exception):
    pass


class CommandServer:
    def __init__(
        self,
        connection: AbstractRobustConnection,
        topology: Topology,
        service: str,
        routes: Mapping[str, CommandRoute],
        prefetch: int,
    ):
        self._connection = connection
        self._topology = topology
        self._service = service
        self._routes = routes
        self._prefetch = prefetch
        self._in_flight = InFlight()

    async def start(self) -> None:
        self._channel = await self._connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=self._prefetch)
        exchange = await declare_commands_exchange(self._channel, self._topology)
        self._queue = await declare_work_queue(
            self._channel, self._topology, self._topology.command_queue(self._service), [(exchange, self._service)]
        )
        self._consumer_tag = await self._queue.consume(self._on_message)

    async def stop(self, grace: float = 10.0) -> None:
        """Stops taking commands and waits up to `grace` seconds for those in progress."""
        await self._in_flight.stop_consuming(self._queue, self._consumer_tag, grace)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        queue = self._queue.name
        with self._in_flight.track(), MESSAGE_SECONDS.labels(queue).time():
            outcome = await self._handle(message)
        MESSAGES_HANDLED.labels(queue, "command", outcome).inc()

    async def _handle(self, message: AbstractIncomingMessage) -> str:
        """Handles one command; returns its outcome for the metrics."""
        correlation_id = str((message.headers or {}).get(CORRELATION_HEADER) or message.message_id or "-")
        with structlog.contextvars.bound_contextvars(
            correlation_id=correlation_id, command_id=message.message_id, command_type=message.type
        ):
            started = time.monotonic()
            if self._expired(message):
                log.warning("command expired before it started; discarded unexecuted")
                await self._reply(message, _error_reply(ErrorCode.TIMEOUT, "The command was not started in time"))
                await message.ack()
                return "expired"
            try:
                route, command, context = self._parse(message)
            except MalformedCommand as error:
                log.error("malformed command dead-lettered", error=str(error))
                await self._reply(message, _error_reply(ErrorCode.VALIDATION_ERROR, str(error)))
                await message.reject(requeue=False)
                return "malformed"
            try:
                with command_deadline(self._header_seconds(message, DEADLINE_HEADER)):
                    result = await route.handler(command, context)
            except ExpectedError as error:
                await self._reply(message, Reply(ok=False, error=error.to_body()))
                await message.ack()
                log.info("command handled", outcome=error.code.value, duration_ms=_ms_since(started))
                return error.code.value
            except Exception:
                log.exception("command failed; dead-lettered")
                await self._reply(message, _error_reply(ErrorCode.INTERNAL_ERROR, "Unexpected server error"))
                await message.reject(requeue=False)
                return "failed"
            data = result.model_dump(mode="json", by_alias=True) if isinstance(result, BaseModel) else result
            await self._reply(message, Reply(ok=True, data=data))
            await message.ack()
            log.info("command handled", outcome="ok", duration_ms=_ms_since(started), redelivered=message.redelivered)
            return "ok"

    @classmethod
    def _expired(cls, message: AbstractIncomingMessage) -> bool:
        start_by = cls._header_seconds(message, START_BY_HEADER)
        return start_by is not None and time.time() > start_by

    @staticmethod
    def _header_seconds(message: AbstractIncomingMessage, header: str) -> float | None:
        value = (message.headers or {}).get(header)
        return value / 1000 if isinstance(value, int) else None

    def _parse(self, message: AbstractIncomingMessage) -> tuple[CommandRoute, BaseModel, CommandContext]:
        try:
            envelope = Envelope.from_bytes(message.body)
        except ValidationError as error:
            raise MalformedCommand(f"not a command envelope: {error.error_count()} error(s)") from error
        route = self._routes.get(envelope.type)
        if route is None:
            raise MalformedCommand(f"unknown command type {envelope.type!r} for {self._service}")
        try:
            command = route.contract.model_validate(envelope.payload)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in error.errors())
            raise MalformedCommand(f"payload does not match {envelope.type}: {problems}") from error
        return route, command, CommandContext.of(envelope)

    async def _reply(self, message: AbstractIncomingMessage, reply: Reply) -> None:
        if not message.reply_to:
            return
        await self._channel.default_exchange.publish(
            aio_pika.Message(reply.to_bytes(), content_type="application/json", correlation_id=message.correlation_id),
            routing_key=message.reply_to,
        )


def _error_reply(code: ErrorCode, text: str) -> Reply:
    return Reply(ok=False, error=ErrorBody(code=code, message=text))


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)
