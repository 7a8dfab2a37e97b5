"""The runner pool's work queue: one `replay.requested` message per trace of a test, shared by
every runner process (each takes at most `REPLAY_CONCURRENCY` at a time)."""

from functools import partial

from services.shadow_runner import handlers
from shared.contracts.shadow_tests import SHADOW_RUNNER, ReplayRequested
from shared.messaging.subscriptions import Subscription, routes_to

WORK_QUEUE = "replays"


def work_queues(deps: handlers.Dependencies, concurrency: int) -> list[Subscription]:
    return [
        Subscription(
            name=WORK_QUEUE,
            source=SHADOW_RUNNER,
            routes=routes_to(partial(handlers.on_replay_requested, deps=deps), ReplayRequested),
            prefetch=concurrency,
        )
    ]
