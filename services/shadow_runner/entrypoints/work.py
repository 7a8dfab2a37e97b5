"""The runner pool's work queue `<ns>.shadow_runner.replays`: one `replay.requested` message per
trace of a test, shared by every runner process (each takes at most `REPLAY_CONCURRENCY` at a
time). The runner publishes that work on its own work exchange `<ns>.shadow_runner.work`, not
on its public events exchange."""

from functools import partial

from services.shadow_runner import handlers
from services.shadow_runner.domain.commands import ReplayRequested
from shared.contracts.shadow_tests import SHADOW_RUNNER
from shared.messaging.subscriptions import Subscription, routes_to

WORK_QUEUE = "replays"


def work_queues(deps: handlers.Dependencies, concurrency: int) -> list[Subscription]:
    return [
        Subscription(
            name=WORK_QUEUE,
            source=SHADOW_RUNNER,
            routes=routes_to(partial(handlers.on_replay_requested, deps=deps), ReplayRequested),
            prefetch=concurrency,
            work=True,
        )
    ]
