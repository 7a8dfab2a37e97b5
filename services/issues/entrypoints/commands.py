"""The issues service's command queue: each command type routed to its handler."""

from functools import partial

from shared.contracts.issues import CreateIssue, DeleteIssue, GetIssue, ListIssues, UpdateIssue
from shared.messaging.commands import CommandRoute
from services.issues import handlers


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    routes = {
        CreateIssue: handlers.create_issue,
        GetIssue: handlers.get_issue,
        ListIssues: handlers.list_issues,
        UpdateIssue: handlers.update_issue,
        DeleteIssue: handlers.delete_issue,
    }
    return {
        contract.message_type: CommandRoute(contract, partial(handler, deps=deps))
        for contract, handler in routes.items()
    }
