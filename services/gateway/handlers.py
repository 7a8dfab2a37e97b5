"""The gateway's use cases: who is calling, and sending their command to its service."""

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from services.gateway.domain.api_keys import (
    DEFAULT_WORKSPACE,
    IssuedKey,
    Principal,
    hash_key,
    is_well_formed,
    issue_key,
)
from services.gateway.domain.rate_limits import TokenBuckets
from services.gateway.ports import ApiKeyStore, CommandChannel, KeyStore
from shared.contracts.common import new_id
from shared.contracts.envelope import Envelope
from shared.contracts.errors import DeadlineExceeded, ErrorCode, ExpectedError, RemoteError, Unavailable
from shared.messaging.rpc import BrokerUnavailable, Command, CommandInDoubt, ReplyTimeout, ServiceNotRunning


class Unauthorized(ExpectedError):
    code = ErrorCode.UNAUTHORIZED


class TooManyFailures(ExpectedError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after_seconds: int):
        super().__init__(f"Too many failed authentications from this address; retry in {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class Authenticator:
    """Maps `Authorization: Bearer thk_…` to a principal, remembering answers for a while.

    Each refused key spends a token of its client address's bucket in `failures`; an address
    with none left is answered `TooManyFailures` before the store is asked, except for keys
    already remembered (so valid callers behind the same address go on). At most `max_keys`
    keys are remembered, each for `cache_seconds`; past that the least recently used goes.
    """

    def __init__(self, store: ApiKeyStore, cache_seconds: float, failures: TokenBuckets,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._store = store
        self._cache: TTLCache[str, Principal] = TTLCache(maxsize=max_keys, ttl=cache_seconds, timer=clock)
        self._failures = failures

    async def authenticate(self, authorization: str | None, client: str) -> Principal:
        if not authorization:
            raise Unauthorized("Missing API key: send the header 'Authorization: Bearer thk_…'")
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        well_formed = scheme.lower() == "bearer" and is_well_formed(secret)
        key_hash = hash_key(secret)
        cached = self._cache.get(key_hash) if well_formed else None
        if cached is not None:
            return cached
        throttled = self._failures.peek(client)
        if not throttled.allowed:
            raise TooManyFailures(throttled.retry_after_seconds)
        principal = await self._store.find(key_hash) if well_formed else None
        if principal is None:
            self._failures.take(client)
            raise Unauthorized("Invalid API key")
        self._cache[key_hash] = principal
        return principal


@dataclass(frozen=True)
class CommandBus:
    """Sends a command to the service that owns it and returns the data of its reply."""

    channel: CommandChannel
    timeout: float

    async def send(
        self,
        command: Command,
        principal: Principal,
        correlation_id: str,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        timeout = timeout or self.timeout
        envelope = Envelope(
            message_id=_command_id(idempotency_key),
            type=command.message_type,
            workspace=principal.workspace,
            actor=principal.owner,
            correlation_id=correlation_id,
            payload=command.to_wire(),
        )
        try:
            reply = await self.channel.call(command.service, envelope, timeout)
        except (BrokerUnavailable, ServiceNotRunning) as error:
            raise Unavailable(f"The {command.service} service is unavailable: {error}") from error
        except CommandInDoubt as error:
            raise DeadlineExceeded(
                f"The {command.service} service's command may or may not have been carried out ({error}); "
                "retry with the same Idempotency-Key"
            ) from error
        except ReplyTimeout as error:
            raise DeadlineExceeded(
                f"The {command.service} service did not answer within {timeout:g}s"
            ) from error
        if not reply.ok:
            raise RemoteError(reply.error)
        return reply.data


def _command_id(idempotency_key: str | None) -> str:
    """The same Idempotency-Key always makes the same command id, which services dedupe on."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return "idem-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


async def create_api_key(store: KeyStore, workspace: str, owner: str | None = None) -> IssuedKey:
    issued = issue_key(workspace, owner)
    await store.add(hash_key(issued.secret), issued.principal)
    return issued


async def ensure_initial_key(store: KeyStore, secret: str) -> Principal:
    """Makes sure `INIT_API_KEY` opens the `default` workspace; returns whom it belongs to."""
    if not is_well_formed(secret):
        raise ValueError("INIT_API_KEY must look like thk_ followed by 16-128 letters, digits, '-' or '_'")
    principal = Principal(DEFAULT_WORKSPACE, *([new_id("key", 12)] * 2))
    return await store.add(hash_key(secret), principal)
