"""Composition root of the gateway: settings, logging, then the HTTP server until stopped."""

import sys

from services.gateway.entrypoints.http import server
from services.gateway.entrypoints.http.app import create_app
from services.gateway.entrypoints.http.keys import CONNECTED
from services.gateway.settings import GatewaySettings
from shared.logging import configure_logging


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    app = create_app(settings)
    server.run(app, settings.gateway_host, settings.gateway_port, shutdown_timeout=10)
    if app[CONNECTED].failure is not None:
        sys.exit(1)
