"""What the gateway's handlers need from outside: the store of API keys, and a channel that puts
a command to the service owning it and waits for that service's reply."""

from typing import Protocol

from services.gateway.domain.api_keys import Principal
from shared.contracts.envelope import Envelope, Reply


class ApiKeyStore(Protocol):
    async def find(self, key_hash: str) -> Principal | None: ...


class KeyStore(ApiKeyStore, Protocol):
    async def add(self, key_hash: str, principal: Principal) -> Principal:
        """Stores the key; if this hash is stored already, returns the principal it has."""


class CommandChannel(Protocol):
    async def call(self, service: str, envelope: Envelope, timeout: float) -> Reply:
        """The reply of `service` to the command in `envelope`. Raises `BrokerUnavailable` or
        `ServiceNotRunning` when the command was not taken (so it was not executed), and
        `ReplyTimeout` (or `CommandInDoubt`, when the connection failed before the broker
        confirmed it) when no reply came within `timeout` (then it may have been)."""
