"""The events the delivery service forwards to webhooks, bound by explicit routing keys (never
`#`: an event type added upstream is not sent to receivers before it is documented), and its
own attempt messages."""

from functools import partial

from services.delivery import handlers
from shared.contracts.fixes import FIXES_SERVICE, FixStatusChanged
from shared.contracts.issues import ISSUES_SERVICE, IssueCreated, IssueDeleted, IssueRegressed, IssueUpdated
from shared.contracts.shadow_tests import SHADOW_RUNNER, ShadowTestCompleted, ShadowTestFailed
from shared.contracts.webhooks import DELIVERY_SERVICE, AttemptDue, WebhookEndpointDisabled
from shared.messaging.subscriptions import Subscription, routes_to

ATTEMPTS = "attempts"


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    forward = partial(handlers.on_event, deps=deps)
    return [
        Subscription(name="issue-events", source=ISSUES_SERVICE,
                     routes=routes_to(forward, IssueCreated, IssueUpdated, IssueRegressed, IssueDeleted)),
        Subscription(name="fix-events", source=FIXES_SERVICE, routes=routes_to(forward, FixStatusChanged)),
        Subscription(name="shadow-test-events", source=SHADOW_RUNNER,
                     routes=routes_to(forward, ShadowTestCompleted, ShadowTestFailed)),
        Subscription(name="endpoint-events", source=DELIVERY_SERVICE,
                     routes=routes_to(forward, WebhookEndpointDisabled)),
        Subscription(name=ATTEMPTS, source=DELIVERY_SERVICE, work=True,
                     routes=routes_to(partial(handlers.on_attempt_due, deps=deps), AttemptDue)),
    ]
