"""Asking another service a question, or sending it a command, on behalf of the command or
event being handled."""

import uuid
from typing import Any

from shared.contracts.envelope import Envelope, Reply
from shared.contracts.errors import ErrorCode, RemoteError, Unavailable
from shared.messaging import deadline
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import BrokerUnavailable, Command, ReplyTimeout, RpcClient, ServiceNotRunning

DERIVED_IDS = uuid.UUID("5c1f3a52-8d0e-4f0b-9a57-2b6f1d7c9e41")


def derived_message_id(cause_id: str, purpose: str) -> str:
    """The message id of the command that the message `cause_id` causes for `purpose`: the
    same for every delivery of that message."""
    return uuid.uuid5(DERIVED_IDS, f"{cause_id}\n{purpose}").hex


async def ask(rpc: RpcClient, question: Command, ctx: CommandContext, timeout: float) -> Any | None:
    """The answer's data, or None when the other service says NOT_FOUND. Waits at most
    `timeout`, and never past the current command's deadline. A service that does not answer
    is `Unavailable` (so an event handler retries and a command replies 503); any other error
    reply is raised as it came. Each question is a new message: not for commands that create
    or change something (see `send`)."""
    reply = await _call(rpc, question, _envelope(question, ctx, uuid.uuid4().hex), timeout)
    if reply.ok:
        return reply.data
    if reply.error.code == ErrorCode.NOT_FOUND:
        return None
    raise RemoteError(reply.error)


async def send(rpc: RpcClient, command: Command, ctx: CommandContext, timeout: float, *, purpose: str) -> Any:
    """Sends `command` caused by the message `ctx` is the context of (an event, mostly), and
    returns the answer's data. Its message id derives from that message's id and `purpose`, so
    a redelivered event sends it again under the same id, and the other service, whose creates
    are idempotent by message id, answers with its first answer instead of acting twice.
    `purpose` tells apart the commands one event causes; the command's body must follow from
    the event alone (the same id with another body is answered CONFLICT). A service that does
    not answer is `Unavailable` (retry: the same id again); an error reply is raised as it came."""
    envelope = _envelope(command, ctx, derived_message_id(ctx.command_id, purpose))
    reply = await _call(rpc, command, envelope, timeout)
    if reply.ok:
        return reply.data
    raise RemoteError(reply.error)


def _envelope(command: Command, ctx: CommandContext, message_id: str) -> Envelope:
    return Envelope(message_id=message_id, type=command.message_type, workspace=ctx.workspace, actor=ctx.actor,
                    correlation_id=ctx.correlation_id, payload=command.to_wire())


async def _call(rpc: RpcClient, command: Command, envelope: Envelope, timeout: float) -> Reply:
    timeout = deadline.bounded(timeout, f"The deadline passed before {command.service} could be asked")
    try:
        return await rpc.call(command.service, envelope, timeout)
    except (BrokerUnavailable, ServiceNotRunning, ReplyTimeout) as error:
        raise Unavailable(f"The {command.service} service did not answer: {error}") from error
