"""Asking another service a question on behalf of the command or event being handled."""

from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.errors import ErrorCode, RemoteError, Unavailable
from shared.messaging import deadline
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import BrokerUnavailable, Command, ReplyTimeout, RpcClient, ServiceNotRunning


async def ask(rpc: RpcClient, question: Command, ctx: CommandContext, timeout: float) -> Any | None:
    """The answer's data, or None when the other service says NOT_FOUND. Waits at most
    `timeout`, and never past the current command's deadline. A service that does not answer
    is `Unavailable` (so an event handler retries and a command replies 503); any other error
    reply is raised as it came."""
    timeout = deadline.bounded(timeout, f"The deadline passed before {question.service} could be asked")
    envelope = Envelope(
        type=question.message_type,
        workspace=ctx.workspace,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
        payload=question.to_wire(),
    )
    try:
        reply = await rpc.call(question.service, envelope, timeout)
    except (BrokerUnavailable, ServiceNotRunning, ReplyTimeout) as error:
        raise Unavailable(f"The {question.service} service did not answer: {error}") from error
    if reply.ok:
        return reply.data
    if reply.error.code == ErrorCode.NOT_FOUND:
        return None
    raise RemoteError(reply.error)
