"""The events the fixes service subscribes to."""

from functools import partial

from services.fixes import handlers
from shared.contracts.issues import ISSUES_SERVICE, IssueDeleted
from shared.contracts.shadow_tests import SHADOW_RUNNER, SHADOW_TEST_EVENTS
from shared.messaging.subscriptions import Subscription, routes_to


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [
        Subscription(
            name="issue-deletions",
            source=ISSUES_SERVICE,
            routes=routes_to(partial(handlers.on_issue_deleted, deps=deps), IssueDeleted),
        ),
        Subscription(
            name="shadow-test-changes",
            source=SHADOW_RUNNER,
            routes=routes_to(partial(handlers.on_shadow_test_changed, deps=deps), *SHADOW_TEST_EVENTS),
        ),
    ]
