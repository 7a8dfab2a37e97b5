"""The shadow runner's command queue: each command type routed to its handler."""

from services.shadow_runner import handlers
from shared.contracts.shadow_tests import (
    ActiveShadowTests,
    CreateShadowTest,
    ExecuteShadow,
    GetShadowTest,
    ListShadowTests,
    UpdateShadowTest,
)
from shared.messaging.commands import CommandRoute, routes_for


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    return routes_for(
        {
            CreateShadowTest: handlers.create_shadow_test,
            GetShadowTest: handlers.get_shadow_test,
            ListShadowTests: handlers.list_shadow_tests,
            UpdateShadowTest: handlers.update_shadow_test,
            ExecuteShadow: handlers.execute_shadow,
            ActiveShadowTests: handlers.active_shadow_tests,
        },
        deps,
    )
