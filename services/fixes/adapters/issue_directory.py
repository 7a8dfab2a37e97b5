"""Whether an issue exists, asked of the issues service over request/reply."""

from shared.contracts.issues import GetIssue
from shared.messaging.asking import ask
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import RpcClient


class RpcIssueDirectory:
    def __init__(self, rpc: RpcClient, timeout: float):
        self._rpc = rpc
        self._timeout = timeout

    async def exists(self, ctx: CommandContext, issue_id: str) -> bool:
        return await ask(self._rpc, GetIssue(issue_id=issue_id), ctx, self._timeout) is not None
