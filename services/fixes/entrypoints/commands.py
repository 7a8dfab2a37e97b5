"""The fixes service's command queue: each command type routed to its handler."""

from services.fixes import handlers
from shared.contracts.fixes import CreateFix, GetFix, ListFixes, UpdateFix
from shared.messaging.commands import CommandRoute, routes_for


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    return routes_for(
        {
            CreateFix: handlers.create_fix,
            GetFix: handlers.get_fix,
            ListFixes: handlers.list_fixes,
            UpdateFix: handlers.update_fix,
        },
        deps,
    )
