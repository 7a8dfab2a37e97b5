"""Whether an issue exists, asked of the issues service over request/reply."""

from shared.contracts.envelope import Envelope
from shared.contracts.errors import DeadlineExceeded, ErrorCode, RemoteError, Unavailable
from shared.contracts.issues import ISSUES_SERVICE, GetIssue
from shared.messaging import deadline
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import BrokerUnavailable, ReplyTimeout, RpcClient, ServiceNotRunning


class RpcIssueDirectory:
    def __init__(self, rpc: RpcClient, timeout: float):
        self._rpc = rpc
        self._timeout = timeout

    async def exists(self, ctx: CommandContext, issue_id: str) -> bool:
        envelope = Envelope(
            type=GetIssue.message_type,
            workspace=ctx.workspace,
            actor=ctx.actor,
            correlation_id=ctx.correlation_id,
            payload=GetIssue(issue_id=issue_id).to_wire(),
        )
        left = deadline.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded("The command's deadline passed before the issue could be checked")
        try:
            reply = await self._rpc.call(ISSUES_SERVICE, envelope, min(self._timeout, left or self._timeout))
        except (BrokerUnavailable, ServiceNotRunning, ReplyTimeout) as error:
            raise Unavailable(f"The issues service did not answer whether issue {issue_id} exists") from error
        if reply.ok:
            return True
        if reply.error.code == ErrorCode.NOT_FOUND:
            return False
        raise RemoteError(reply.error)
