"""The events the issues service subscribes to."""

from functools import partial

from services.issues import handlers
from shared.contracts.fixes import FIXES_SERVICE, FixCreated, FixUpdated
from shared.contracts.shadow_tests import SHADOW_RUNNER, SHADOW_TEST_EVENTS
from shared.contracts.traces import TRACES_SERVICE, TracesIngested
from shared.messaging.subscriptions import Subscription, routes_to


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [
        Subscription(
            name="fix-changes",
            source=FIXES_SERVICE,
            routes=routes_to(partial(handlers.on_fix_changed, deps=deps), FixCreated, FixUpdated),
        ),
        Subscription(
            name="trace-ingestions",
            source=TRACES_SERVICE,
            routes=routes_to(partial(handlers.on_traces_ingested, deps=deps), TracesIngested),
        ),
        Subscription(
            name="shadow-test-changes",
            source=SHADOW_RUNNER,
            routes=routes_to(partial(handlers.on_shadow_test_changed, deps=deps), *SHADOW_TEST_EVENTS),
        ),
    ]
