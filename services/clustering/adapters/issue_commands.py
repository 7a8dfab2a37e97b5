"""The issues service's CreateIssue and AttachTraces, sent over request/reply under ids
derived from the causing event (`shared.messaging.asking.send`)."""

from shared.contracts.issues import AttachTraces, CreateIssue
from shared.messaging.asking import send
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import RpcClient


class RpcIssueCommands:
    def __init__(self, rpc: RpcClient, timeout: float):
        self._rpc = rpc
        self._timeout = timeout

    async def create(self, cause: CommandContext, purpose: str, body: dict) -> str:
        result = await send(self._rpc, CreateIssue.model_validate(body), cause, self._timeout, purpose=purpose)
        return result["issue"]["id"]

    async def attach(self, cause: CommandContext, purpose: str, issue_id: str, trace_ids: list[str]) -> None:
        command = AttachTraces(issue_id=issue_id, trace_ids=trace_ids)
        await send(self._rpc, command, cause, self._timeout, purpose=purpose)
