"""The events the issues service subscribes to."""

from functools import partial

from services.issues import handlers
from shared.contracts.fixes import FIXES_SERVICE, FixCreated, FixUpdated
from shared.contracts.shadow_tests import SHADOW_RUNNER, SHADOW_TEST_EVENTS
from shared.contracts.traces import TRACES_SERVICE, TracesIngested
from shared.messaging.subscriptions import EventRoute, Subscription


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    on_fix_changed = partial(handlers.on_fix_changed, deps=deps)
    return [
        Subscription(
            name="fix-changes",
            source=FIXES_SERVICE,
            routes={
                FixCreated.routing_key: EventRoute(FixCreated, on_fix_changed),
                FixUpdated.routing_key: EventRoute(FixUpdated, on_fix_changed),
            },
        ),
        Subscription(
            name="trace-ingestions",
            source=TRACES_SERVICE,
            routes={
                TracesIngested.routing_key: EventRoute(
                    TracesIngested, partial(handlers.on_traces_ingested, deps=deps)
                )
            },
        ),
        Subscription(
            name="shadow-test-changes",
            source=SHADOW_RUNNER,
            routes={
                event.routing_key: EventRoute(event, partial(handlers.on_shadow_test_changed, deps=deps))
                for event in SHADOW_TEST_EVENTS
            },
        ),
    ]
