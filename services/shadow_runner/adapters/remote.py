"""What the runner asks other services: the fix, the traces, the issue."""

from shared.contracts.fixes import FixDetail, GetFix, GetFixResult
from shared.contracts.issues import GetIssue, GetIssueResult, IssueDetail
from shared.contracts.traces import FindMissingTraces, GetTrace, MissingTraces, Trace
from shared.messaging.asking import ask
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import RpcClient


class RemoteServices:
    def __init__(self, rpc: RpcClient, timeout: float):
        self._rpc = rpc
        self._timeout = timeout

    async def fix(self, ctx: CommandContext, fix_id: str) -> FixDetail | None:
        data = await ask(self._rpc, GetFix(fix_id=fix_id), ctx, self._timeout)
        return GetFixResult.model_validate(data).fix if data is not None else None

    async def issue(self, ctx: CommandContext, issue_id: str) -> IssueDetail | None:
        data = await ask(self._rpc, GetIssue(issue_id=issue_id), ctx, self._timeout)
        return GetIssueResult.model_validate(data).issue if data is not None else None

    async def trace(self, ctx: CommandContext, trace_id: str) -> Trace | None:
        data = await ask(self._rpc, GetTrace(trace_id=trace_id), ctx, self._timeout)
        return Trace.model_validate(data) if data is not None else None

    async def missing_traces(self, ctx: CommandContext, trace_ids: list[str]) -> list[str]:
        answer = await ask(self._rpc, FindMissingTraces(trace_ids=trace_ids), ctx, self._timeout)
        return MissingTraces.model_validate(answer).missing
