"""The clustering service's command queue: a workspace's settings."""

from services.clustering import handlers
from shared.contracts.clustering import GetClusteringSettings, UpdateClusteringSettings
from shared.messaging.commands import CommandRoute, routes_for


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    return routes_for(
        {GetClusteringSettings: handlers.get_settings, UpdateClusteringSettings: handlers.update_settings}, deps
    )
