"""The fixes service's command queue: each command type routed to its handler."""

from functools import partial

from shared.contracts.fixes import CreateFix, GetFix, ListFixes, UpdateFix
from shared.messaging.commands import CommandRoute
from services.fixes import handlers


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    routes = {
        CreateFix: handlers.create_fix,
        GetFix: handlers.get_fix,
        ListFixes: handlers.list_fixes,
        UpdateFix: handlers.update_fix,
    }
    return {
        contract.message_type: CommandRoute(contract, partial(handler, deps=deps))
        for contract, handler in routes.items()
    }
