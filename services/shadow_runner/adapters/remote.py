"""What the runner asks other services: the fix, the traces, the issue."""

from shared.contracts.fixes import FixView, GetFix
from shared.contracts.issues import GetIssue, GetIssueResult, IssueDetail
from shared.contracts.traces import FindMissingTraces, GetTrace, MissingTraces, Trace
from shared.messaging.asking import ask
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import RpcClient

RUNNER_FIX_FIELDS = frozenset(FixView.model_fields) - {"status_history"}
"""What the runner keeps of a fix (its snapshot in a test): its changes and what names it. The
rest (its history, its shadow tests, and any field a newer fixes service adds) is left out."""
_WIRE_NAMES = {FixView.model_fields[name].alias or name: name for name in RUNNER_FIX_FIELDS}


def runner_fix(wire: dict) -> FixView:
    """The fix from a `fixes.get_fix` answer, with only the fields the runner needs: unknown
    fields are dropped, not refused."""
    return FixView.model_validate({name: value for name, value in wire.items() if name in _WIRE_NAMES})


class RemoteServices:
    def __init__(self, rpc: RpcClient, timeout: float):
        self._rpc = rpc
        self._timeout = timeout

    async def fix(self, ctx: CommandContext, fix_id: str) -> FixView | None:
        data = await ask(self._rpc, GetFix(fix_id=fix_id), ctx, self._timeout)
        return runner_fix(data["fix"]) if data is not None else None

    async def issue(self, ctx: CommandContext, issue_id: str) -> IssueDetail | None:
        data = await ask(self._rpc, GetIssue(issue_id=issue_id), ctx, self._timeout)
        return GetIssueResult.model_validate(data).issue if data is not None else None

    async def trace(self, ctx: CommandContext, trace_id: str) -> Trace | None:
        data = await ask(self._rpc, GetTrace(trace_id=trace_id), ctx, self._timeout)
        return Trace.model_validate(data) if data is not None else None

    async def missing_traces(self, ctx: CommandContext, trace_ids: list[str]) -> list[str]:
        answer = await ask(self._rpc, FindMissingTraces(trace_ids=trace_ids), ctx, self._timeout)
        return MissingTraces.model_validate(answer).missing
