"""Asking another service a question on behalf of the command or event being handled."""

from typing import Any, Protocol

from shared.contracts.envelope import Envelope
from shared.contracts.errors import DeadlineExceeded, ErrorCode, RemoteError, Unavailable
from shared.messaging import deadline
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import BrokerUnavailable, ReplyTimeout, RpcClient, ServiceNotRunning


class Question(Protocol):
    service: str
    message_type: str

    def to_wire(self) -> dict: ...


async def ask(rpc: RpcClient, question: Question, ctx: CommandContext, timeout: float) -> Any | None:
    """The answer's data, or None when the other service says NOT_FOUND. Waits at most
    `timeout`, and never past the current command's deadline. A service that does not answer
    is `Unavailable` (so an event handler retries and a command replies 503); any other error
    reply is raised as it came."""
    left = deadline.remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded(f"The deadline passed before {question.service} could be asked")
    envelope = Envelope(
        type=question.message_type,
        workspace=ctx.workspace,
        actor=ctx.actor,
        correlation_id=ctx.correlation_id,
        payload=question.to_wire(),
    )
    try:
        reply = await rpc.call(question.service, envelope, min(timeout, left) if left is not None else timeout)
    except (BrokerUnavailable, ServiceNotRunning, ReplyTimeout) as error:
        raise Unavailable(f"The {question.service} service did not answer: {error}") from error
    if reply.ok:
        return reply.data
    if reply.error.code == ErrorCode.NOT_FOUND:
        return None
    raise RemoteError(reply.error)
