"""Which shadow tests of an issue's fixes are active, asked of the shadow runner."""

from shared.contracts.shadow_tests import ActiveShadowTests, ShadowTestIds
from shared.messaging.asking import ask
from shared.messaging.commands import CommandContext
from shared.messaging.rpc import RpcClient


class RpcShadowTestDirectory:
    def __init__(self, rpc: RpcClient, timeout: float):
        self._rpc = rpc
        self._timeout = timeout

    async def active_for(self, ctx: CommandContext, issue_id: str) -> list[str]:
        answer = await ask(self._rpc, ActiveShadowTests(issue_id=issue_id), ctx, self._timeout)
        return ShadowTestIds.model_validate(answer).ids if answer is not None else []
