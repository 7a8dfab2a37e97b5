"""The issues service's command queue: each command type routed to its handler."""

from services.issues import handlers
from shared.contracts.issues import AttachTraces, CreateIssue, DeleteIssue, GetIssue, ListIssues, UpdateIssue
from shared.messaging.commands import CommandRoute, routes_for


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    return routes_for(
        {
            CreateIssue: handlers.create_issue,
            GetIssue: handlers.get_issue,
            ListIssues: handlers.list_issues,
            UpdateIssue: handlers.update_issue,
            DeleteIssue: handlers.delete_issue,
            AttachTraces: handlers.attach_traces,
        },
        deps,
    )
