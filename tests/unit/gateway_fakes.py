"""In-memory stand-ins for what the gateway runs on: its key store and its command channel."""

from collections.abc import Callable

from services.gateway.domain.api_keys import Principal
from services.gateway.settings import GatewaySettings
from shared.contracts.envelope import Envelope, Reply


class InMemoryKeyStore:
    def __init__(self):
        self.principals: dict[str, Principal] = {}
        self.lookups = 0

    async def find(self, key_hash: str) -> Principal | None:
        self.lookups += 1
        return self.principals.get(key_hash)

    async def add(self, key_hash: str, principal: Principal) -> Principal:
        return self.principals.setdefault(key_hash, principal)


class AnsweringChannel:
    """Answers each command with `answer(service, envelope)`, and keeps what it was sent."""

    def __init__(self, answer: Callable[[str, Envelope], Reply]):
        self.answer = answer
        self.sent: list[tuple[str, Envelope, float]] = []

    async def call(self, service: str, envelope: Envelope, timeout: float) -> Reply:
        self.sent.append((service, envelope, timeout))
        return self.answer(service, envelope)


class FakeAdapters:
    """`bootstrap.Adapters` over the fakes; `failure`, when set, is raised by `key_store`."""

    def __init__(self, keys: InMemoryKeyStore, channel: AnsweringChannel, failure: Exception | None = None):
        self.keys, self.channel, self.failure = keys, channel, failure
        self.closed = False
        self.checks = {"broker": self._ok, "store": self._ok}

    def __call__(self, _settings: GatewaySettings) -> "FakeAdapters":
        return self

    async def _ok(self) -> None:
        return None

    async def key_store(self) -> InMemoryKeyStore:
        if self.failure is not None:
            raise self.failure
        return self.keys

    async def commands(self) -> AnsweringChannel:
        return self.channel

    async def close(self) -> None:
        self.closed = True
