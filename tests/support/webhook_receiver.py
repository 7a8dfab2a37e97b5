"""A real HTTP receiver for webhooks, run in the test's event loop: it records every request,
answers as scripted (a status, or a hang past the sender's timeout), and tells the distinct
deliveries apart by `webhook-id`, as a de-duplicating receiver does."""

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from deploy.local.processes import free_port

HANG = "hang"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    path: str = "/hook"
    script: deque = field(default_factory=deque)
    """Answers for the next requests (a status, or `HANG`); 200 once it is empty."""
    requests: list[Received] = field(default_factory=list)
    hang_seconds: float = 30.0

    async def start(self) -> "Receiver":
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received({k.lower(): v for k, v in request.headers.items()}, await request.read(),
                                      time.monotonic()))
        answer = self.script.popleft() if self.script else 200
        if answer == HANG:
            await asyncio.sleep(self.hang_seconds)
            answer = 200
        return web.Response(status=answer, text="ok" if answer < 300 else f"failing with {answer}")

    def verified(self, secret: str) -> list[dict]:
        """Every request's event, each verified with the secret (raises if one does not verify)."""
        return [Webhook(secret).verify(r.body, r.headers) for r in self.requests]

    def distinct(self) -> dict[str, Received]:
        """The first request of each `webhook-id`, as a de-duplicating receiver keeps them."""
        seen: dict[str, Received] = {}
        for request in self.requests:
            seen.setdefault(request.webhook_id, request)
        return seen

    def events_of_type(self, event_type: str) -> list[dict]:
        return [r.event for r in self.distinct().values() if r.event["type"] == event_type]
