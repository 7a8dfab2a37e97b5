"""The events the fixes service subscribes to."""

from functools import partial

from services.fixes import handlers
from shared.contracts.issues import ISSUES_SERVICE, IssueDeleted
from shared.contracts.shadow_tests import SHADOW_RUNNER, SHADOW_TEST_EVENTS
from shared.messaging.subscriptions import EventRoute, Subscription


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [
        Subscription(
            name="issue-deletions",
            source=ISSUES_SERVICE,
            routes={IssueDeleted.routing_key: EventRoute(IssueDeleted, partial(handlers.on_issue_deleted, deps=deps))},
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
