"""A local OpenAI-compatible `/v1/chat/completions` server with scripted, deterministic answers:
a real HTTP hop, a fake model. Runs its own event loop in a thread.

As the replayed agent it answers from the system prompt it receives (so a prompt fix really
changes the answer); as the judge (model `judge-model`) it scores each answer by what it says.
Tests can script faults per conversation: HTTP errors, garbage, delays.
"""

import asyncio
import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from aiohttp import web

from deploy.local.processes import free_port

JUDGE_MODEL = "judge-model"
GROUNDED = "Always verify the policy effective date before citing specific terms."
SILENCED = "Never discuss refunds."
RIGHT = "No. Returns are accepted within 30 days of purchase under the current policy."
WRONG = "Yes, our policy allows returns within 60 days."
REFUSAL = "I cannot answer that."


@dataclass
class Fault:
    status: int = 0
    body: str = ""
    delay: float = 0.0
    retry_after: str | None = None


@dataclass
class FakeModel:
    port: int = field(default_factory=free_port)
    delay: float = 0.0
    faults: dict[str, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    calls: list[dict] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "FakeModel":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def fail(self, marker: str, *faults: Fault) -> None:
        """The next calls whose conversation contains `marker` get these faults, in order."""
        with self._lock:
            self.faults[marker].extend(faults)

    def calls_about(self, marker: str) -> list[dict]:
        return [call for call in list(self.calls) if marker in json.dumps(call["messages"])]

    def _next_fault(self, conversation: str) -> Fault | None:
        with self._lock:
            for marker, planned in self.faults.items():
                if marker in conversation and planned:
                    return planned.pop(0)
        return None

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls.append(body)
        fault = self._next_fault(json.dumps(body["messages"]))
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.status:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return web.Response(status=fault.status, text=fault.body or "scripted failure", headers=headers)
            if fault.body:
                return web.Response(status=200, text=fault.body, content_type="application/json")
        await asyncio.sleep(self.delay if body["model"] != JUDGE_MODEL else 0)
        answer = _judge(body["messages"]) if body["model"] == JUDGE_MODEL else _agent(body["messages"])
        return web.json_response({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        })


def _agent(messages: list[dict]) -> str:
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = " ".join(m.get("content") or "" for m in messages if m["role"] == "user")
    if SILENCED in system:
        return REFUSAL
    if GROUNDED not in system:
        return WRONG if "refund" in user.lower() or "return" in user.lower() else "The warranty lasts 12 months."
    if "warranty" in user.lower():
        return REFUSAL
    return RIGHT


def _judge(messages: list[dict]) -> str:
    text = messages[-1]["content"]
    answers = re.search(r"Answer A:\n(.*)\n\nAnswer B:\n(.*)", text, re.S)
    score_a, score_b = (_grade(answers.group(1)), _grade(answers.group(2))) if answers else (0.5, 0.5)
    return json.dumps({"scoreA": score_a, "scoreB": score_b,
                       "explanation": f"A scores {score_a} and B scores {score_b} on the refund window cited."})


def _grade(answer: str) -> float:
    if "30 days" in answer:
        return 0.9
    if "60 days" in answer:
        return 0.2
    if "cannot" in answer:
        return 0.05
    return 0.5
