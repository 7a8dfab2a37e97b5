"""Sending a parsed request's command on behalf of the caller."""

from typing import Any

from aiohttp import web

from services.gateway.entrypoints.http.keys import CONNECTED, CORRELATION_ID, PRINCIPAL
from shared.messaging.rpc import Command


async def send(
    request: web.Request, command: Command, idempotency_key: str | None = None, timeout: float | None = None
) -> Any:
    bus = request.app[CONNECTED].bus
    return await bus.send(command, request[PRINCIPAL], request[CORRELATION_ID], idempotency_key, timeout)
