"""The events the clustering service subscribes to."""

from functools import partial

from services.clustering import handlers
from shared.contracts.issues import ISSUES_SERVICE, IssueCreated, IssueDeleted, IssueRegressed, IssueUpdated
from shared.contracts.traces import TRACES_SERVICE, TracesIngested
from shared.messaging.subscriptions import Subscription, routes_to

TRACE_BATCHES_AT_ONCE = 2


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [
        Subscription(
            name="trace-ingestions",
            source=TRACES_SERVICE,
            routes=routes_to(partial(handlers.on_traces_ingested, deps=deps), TracesIngested),
            prefetch=TRACE_BATCHES_AT_ONCE,
        ),
        Subscription(
            name="issue-changes",
            source=ISSUES_SERVICE,
            routes={
                **routes_to(partial(handlers.on_issue_created, deps=deps), IssueCreated),
                **routes_to(partial(handlers.on_issue_changed, deps=deps), IssueUpdated, IssueRegressed),
                **routes_to(partial(handlers.on_issue_deleted, deps=deps), IssueDeleted),
            },
        ),
    ]
