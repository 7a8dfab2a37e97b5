"""A scripted OpenAI-compatible `/v1/chat/completions` endpoint, for `make run` on a machine
with no model API and for the tests: a real HTTP hop, a stand-in model with deterministic
answers. Point REPLAY_MODEL_BASE_URL at a real endpoint to replay against a real model.

    python -m deploy.local.demo_model --port 8089

As the replayed agent it answers from what it is given: with context documents, the document
that best matches the question (so a retrieval fix changes the answer); without, from its
system prompt, citing the 30-day refund window only when told to verify the policy date (so a
prompt fix changes the answer). As the judge (model `judge-model`) it scores answers by the
refund window they cite, fairly unless told to favour whichever answer it reads first
(`bias_judge`); as the namer of new issues (model `label-model`) it titles them from the
distinctive terms it is given; with `refuses_response_format` it answers structured-output requests as an
endpoint without that feature does. Tests script faults per conversation: HTTP errors, garbage,
delays. `/v1/embeddings` answers a deterministic bag-of-words vector of 64 dimensions a text.

Offered tools, it is a tool-using agent (`_tool_agent`) that answers from the tool results it is
sent: it calls, one per reply in the order offered (all at once when its system prompt says
"Call tools in parallel."), each tool whose description does not say "Do not use", again while
one whose description says "until done" answers something else, and then answers with the last
tool result it got (its `answer` when that is a JSON object with one). Arguments come from the
tool's parameters: `order_id` is the order number in the question (`A-17`), `query` the
question, anything else `"returns"`.
"""

import asyncio
import hashlib
import json
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from aiohttp import web

from deploy.local.processes import LoopThread, free_port

JUDGE_MODEL = "judge-model"
LABEL_MODEL = "label-model"
GROUNDED = "Always verify the policy effective date before citing specific terms."
SILENCED = "Never discuss refunds."
RIGHT = "No. Returns are accepted within 30 days of purchase under the current policy."
WRONG = "Yes, our policy allows returns within 60 days."
REFUSAL = "I cannot answer that."
EMBEDDING_DIMENSION = 64


@dataclass
class Fault:
    """One scripted misbehaviour: wait `delay`, then answer `status` (with `body`), or a 200
    with `body` instead of a completion, or drop the connection without a word."""

    status: int = 0
    body: str = ""
    delay: float = 0.0
    retry_after: str | None = None
    drop: bool = False


@dataclass
class DemoModel:
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    delay: float = 0.0
    faults: dict[str, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    judge_bias: dict[str, float] = field(default_factory=dict)
    refuses_response_format: bool = False
    calls: list[dict] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "DemoModel":
        self._loop_thread = LoopThread()
        self._loop_thread.run(self._start())
        return self

    def __exit__(self, *_exc) -> None:
        self._loop_thread.run(self._runner.cleanup())
        self._loop_thread.stop()

    def fail(self, marker: str, *faults: Fault) -> None:
        """The next calls whose conversation contains `marker` get these faults, in order."""
        with self._lock:
            self.faults[marker].extend(faults)

    def bias_judge(self, marker: str, bias_to_first: float) -> None:
        """Judging conversations that contain `marker`, add `bias_to_first` to Answer A's score."""
        with self._lock:
            self.judge_bias[marker] = bias_to_first

    def calls_about(self, marker: str) -> list[dict]:
        return [call for call in list(self.calls) if marker in json.dumps(call["messages"])]

    def _bias(self, conversation: str) -> float:
        with self._lock:
            return next((bias for marker, bias in self.judge_bias.items() if marker in conversation), 0.0)

    def _next_fault(self, conversation: str) -> Fault | None:
        with self._lock:
            for marker, planned in self.faults.items():
                if marker in conversation and planned:
                    return planned.pop(0)
        return None

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

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
            if fault.drop:
                request.transport.abort()
                return web.Response(status=500)
            if fault.status:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                return web.Response(status=fault.status, text=fault.body or "scripted failure", headers=headers)
            if fault.body:
                return web.Response(status=200, text=fault.body, content_type="application/json")
        if self.refuses_response_format and "response_format" in body:
            return web.json_response(status=400, data={"error": {
                "message": "Unsupported parameter: 'response_format' is not supported with this model.",
                "type": "invalid_request_error", "param": "response_format", "code": "unsupported_parameter"}})
        await asyncio.sleep(self.delay if body["model"] != JUDGE_MODEL else 0)
        if body["model"] == JUDGE_MODEL:
            judged = _judge(body["messages"], self._bias(json.dumps(body["messages"])))
            message = {"role": "assistant", "content": judged}
        elif body["model"] == LABEL_MODEL:
            message = {"role": "assistant", "content": _label(body["messages"])}
        elif body.get("tools"):
            message = _tool_agent(body["messages"], body["tools"])
        else:
            message = {"role": "assistant", "content": _agent(body["messages"])}
        return web.json_response({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        })


    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        self.calls.append({"model": body.get("model"), "messages": [], "input": texts})
        fault = self._next_fault(json.dumps(texts))
        if fault is not None and fault.status:
            return web.Response(status=fault.status, text=fault.body or "scripted failure")
        return web.json_response({
            "object": "list",
            "model": body.get("model"),
            "data": [{"object": "embedding", "index": i, "embedding": _embedding(t)} for i, t in enumerate(texts)],
        })


def _embedding(text: str, dimension: int = EMBEDDING_DIMENSION) -> list[float]:
    """A deterministic bag-of-words vector: each word adds one to a dimension chosen by its hash."""
    vector = [0.0] * dimension
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dimension] += 1.0
    return vector


def _agent(messages: list[dict]) -> str:
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = " ".join(m.get("content") or "" for m in messages if m["role"] == "user")
    if SILENCED in system:
        return REFUSAL
    if "\nContext:\n" in f"\n{system}":
        return _best_document(system.split("Context:\n", 1)[1], user)
    if GROUNDED not in system:
        return WRONG if "refund" in user.lower() or "return" in user.lower() else "The warranty lasts 12 months."
    if "warranty" in user.lower():
        return REFUSAL
    return RIGHT


PARALLEL = "Call tools in parallel."
ORDER_ID = re.compile(r"\b[A-Z]-\d+\b")


def _tool_agent(messages: list[dict], tools: list[dict]) -> dict:
    """The next reply of the scripted tool-using agent (see the module's docstring)."""
    system = next((m.get("content") or "" for m in messages if m["role"] == "system"), "")
    last_user = max((n for n, m in enumerate(messages) if m["role"] == "user"), default=-1)
    question = messages[last_user]["content"] if last_user >= 0 else ""
    run = messages[last_user + 1:]
    asked = {call["id"]: call["function"]["name"] for m in run if m["role"] == "assistant"
             for call in m.get("tool_calls") or ()}
    results = [(asked.get(m.get("tool_call_id")), m.get("content") or "") for m in run if m["role"] == "tool"]
    latest = {name: content for name, content in results}
    functions = [tool["function"] for tool in tools]
    usable = [function for function in functions if "do not use" not in _description(function)]
    wanted = [function for function in usable if function["name"] not in latest
              or ("until done" in _description(function) and latest[function["name"]] != "done")]
    if wanted:
        turn = sum(1 for m in run if m["role"] == "assistant")
        chosen = wanted if PARALLEL in system else wanted[:1]
        calls = [{"id": f"call_{turn}_{n}", "type": "function",
                  "function": {"name": function["name"], "arguments": json.dumps(_arguments(function, question))}}
                 for n, function in enumerate(chosen)]
        return {"role": "assistant", "content": None, "tool_calls": calls}
    if not results:
        return {"role": "assistant", "content": _agent(messages)}
    content = results[-1][1]
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = None
    return {"role": "assistant",
            "content": parsed["answer"] if isinstance(parsed, dict) and "answer" in parsed else content}


def _description(function: dict) -> str:
    return (function.get("description") or "").lower()


def _arguments(function: dict, question: str) -> dict:
    found = ORDER_ID.search(question)
    values = {"order_id": found.group(0) if found else "", "query": question}
    properties = (function.get("parameters") or {}).get("properties") or {}
    return {name: values.get(name, "returns") for name in properties}


def _best_document(context: str, question: str) -> str:
    words = set(re.findall(r"[a-z0-9]+", question.lower()))
    documents = [re.sub(r"^\[[^\]]*\] ", "", line) for line in context.splitlines() if line.strip()]
    return max(documents, key=lambda text: len(words & set(re.findall(r"[a-z0-9]+", text.lower()))))


def _label(messages: list[dict]) -> str:
    """As the model that names new issues: a title from the distinctive terms it is given, in a
    fenced JSON object as chat models often answer."""
    asked = messages[-1]["content"]
    terms = re.search(r"^Distinctive terms: (.*)$", asked, re.M)
    shown = re.search(r"^Examples \(.*?\): (.*)$", asked, re.M)
    examples = len(json.loads(shown.group(1))) if shown else 0
    named = terms.group(1).split(", ")[0] if terms else "unknown"
    answer = {"title": f"Agent fails on {named}.",
              "description": f"Named by the demo label model from {examples} examples."}
    return f"```json\n{json.dumps(answer)}\n```"


def _judge(messages: list[dict], bias_to_first: float = 0.0) -> str:
    text = messages[-1]["content"]
    answers = re.search(r"Answer A:\n(.*)\n\nAnswer B:\n(.*)", text, re.S)
    score_a, score_b = (_grade(answers.group(1)), _grade(answers.group(2))) if answers else (0.5, 0.5)
    score_a = round(min(1.0, score_a + bias_to_first), 4)
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


def main() -> None:
    import argparse
    import signal

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to be reached from other containers")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds every agent answer takes")
    args = parser.parse_args()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with DemoModel(port=args.port, host=args.host, delay=args.delay) as model:
        print(f"ready {model.url}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()
