"""A client for any OpenAI-compatible `/chat/completions` endpoint (OpenAI, Azure, vLLM,
Ollama, LiteLLM …).

Calls are bounded: at most `concurrency` in flight at once (a call waiting to retry does not
hold its slot), each within `timeout` (and within the current command's deadline). A 429, a
5xx, a timeout, a dropped connection or a reply that is not a chat completion is retried with
exponential backoff and jitter, waiting what `Retry-After` asks when the endpoint says; after
`max_attempts` (or when the next wait would outlast the command's deadline), `ModelError`
names the last cause. Other 4xx answers are not retried. Retrying is tenacity's.

A request with tools sends them (`tools`); a reply's `tool_calls` come back in the `Completion`
(its content may then be null). A reply with neither text nor well-formed tool calls is garbage.

An endpoint that refuses `response_format` (a 400 or 422 that names it, or an unsupported-
parameter error) raises `ParameterRefused`, and is remembered for the process as refusing it
(`accepts`), so that callers stop asking.
"""

import asyncio
import json
import random
import time

import aiohttp
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.shadow_runner.adapters.metrics import MODEL_CALLS, MODEL_SECONDS
from services.shadow_runner.domain.replay import AskedCall, ChatRequest
from services.shadow_runner.ports import Completion, ModelError, ParameterRefused
from shared.messaging import deadline

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 60.0
OPTIONAL_PARAMETERS = ("response_format",)
_REFUSED: dict[str, set[str]] = {}
"""The optional parameters each endpoint (by URL) has refused, in this process."""


class ChatModel:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float,
        max_attempts: int,
        concurrency: int,
        label: str,
    ):
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._slots = asyncio.Semaphore(concurrency)
        self.label = label

    def accepts(self, parameter: str) -> bool:
        return parameter not in _REFUSED.get(self._url, set())

    async def complete(self, request: ChatRequest) -> Completion:
        body = {"model": request.model, "messages": request.messages, **request.parameters}
        if request.tools:
            body["tools"] = request.tools
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            wait=_backoff,
            stop=stop_after_attempt(self._max_attempts) | _past_deadline,
            before_sleep=self._retrying,
            reraise=True,
        )
        tried = 0
        try:
            async for attempt in retrying:
                tried = attempt.retry_state.attempt_number
                with attempt:
                    async with self._slots:
                        text, calls = await self._call(body)
                        return Completion(text, tried, calls)
        except _Retryable as last:
            attempts = f"{tried} attempt{'s' if tried > 1 else ''}"
            raise ModelError(f"{self.label} model: {last.cause} (after {attempts})") from None

    def _retrying(self, state: RetryCallState) -> None:
        log.info("model call retried", model=self.label, cause=state.outcome.exception().cause,
                 attempt=state.attempt_number, wait_s=round(state.upcoming_sleep, 2))

    async def _call(self, body: dict) -> tuple[str, list[AskedCall]]:
        started = time.monotonic()
        outcome = "error"
        try:
            reply = await self._post(body)
            outcome = "ok"
            return reply
        except _Retryable as retryable:
            outcome = retryable.outcome
            raise
        finally:
            MODEL_CALLS.labels(self.label, outcome).inc()
            MODEL_SECONDS.labels(self.label).observe(time.monotonic() - started)

    async def _post(self, body: dict) -> tuple[str, list[AskedCall]]:
        left = deadline.remaining()
        timeout = self._timeout if left is None else max(0.001, min(self._timeout, left))
        try:
            async with self._session.post(
                self._url, json=body, headers=self._headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                if response.status == 200:
                    return _answer(await response.json(content_type=None))
                text = (await response.text())[:2000]
                if response.status == 429 or response.status >= 500:
                    raise _Retryable(f"the endpoint answered HTTP {response.status}", _retry_after(response),
                                     str(response.status))
                message = f"{self.label} model: the endpoint answered HTTP {response.status}: {text[:200]}"
                if refused := _refused_parameter(response.status, text, body):
                    _REFUSED.setdefault(self._url, set()).add(refused)
                    log.warning("model endpoint refuses a parameter; not asked with it again", model=self.label,
                                parameter=refused, status=response.status)
                    raise ParameterRefused(message, refused)
                raise ModelError(message)
        except TimeoutError:
            raise _Retryable(f"no answer within {timeout:g}s", outcome="timeout") from None
        except aiohttp.ClientError as error:
            raise _Retryable(f"the connection failed ({type(error).__name__}: {error})", outcome="connection") from None
        except ValueError as error:
            raise _Retryable(f"the reply is not a chat completion ({error})", outcome="malformed") from None


_EXPONENTIAL = wait_exponential(multiplier=0.5, max=MAX_BACKOFF_SECONDS)
"""0.5 s after the first attempt, then 1 s, 2 s … at most `MAX_BACKOFF_SECONDS`."""


def _backoff(state: RetryCallState) -> float:
    """What `Retry-After` asked, when the endpoint said; else exponential backoff, ±20% jitter."""
    asked = state.outcome.exception().retry_after
    return asked if asked is not None else _EXPONENTIAL(state) * random.uniform(0.8, 1.2)


def _past_deadline(state: RetryCallState) -> bool:
    """Stop rather than wait past the current command's deadline."""
    left = deadline.remaining()
    return left is not None and state.upcoming_sleep >= left


class _Retryable(Exception):
    def __init__(self, cause: str, retry_after: float | None = None, outcome: str = "error"):
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after
        self.outcome = outcome


def _answer(payload: object) -> tuple[str, list[AskedCall]]:
    try:
        message = payload["choices"][0]["message"]
        content = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise ValueError(f"missing choices[0].message: {error!r}") from None
    calls = _tool_calls(message.get("tool_calls"))
    if content is None and calls:
        return "", calls
    if not isinstance(content, str):
        raise ValueError("choices[0].message.content is not text")
    return content, calls


def _tool_calls(raw: object) -> list[AskedCall]:
    """The reply's tool calls; arguments given as an object (some servers do) are kept as their JSON."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("choices[0].message.tool_calls is not a list")
    calls = []
    for n, call in enumerate(raw):
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"tool_calls.{n} has no function name")
        arguments = function.get("arguments", "")
        if isinstance(arguments, dict | list):
            arguments = json.dumps(arguments, ensure_ascii=False)
        if not isinstance(arguments, str):
            raise ValueError(f"tool_calls.{n}.function.arguments is not text")
        call_id = call.get("id")
        calls.append(AskedCall(call_id if isinstance(call_id, str) and call_id else f"call_{n + 1}", name, arguments))
    return calls


def _refused_parameter(status: int, text: str, body: dict) -> str | None:
    """The optional parameter of `body` a 400 or 422 answer refuses: one it names, or the only one
    sent when the answer is an unsupported-parameter error naming no other parameter sent."""
    sent = [name for name in OPTIONAL_PARAMETERS if name in body]
    if status not in (400, 422) or not sent:
        return None
    lowered = text.lower()
    for name in sent:
        if name in lowered or (name == "response_format" and "json_schema" in lowered):
            return name
    others = [name for name in body if name not in ("model", "messages", *OPTIONAL_PARAMETERS)]
    unsupported = "unsupported" in lowered or "not supported" in lowered or "unrecognized" in lowered
    if unsupported and "param" in lowered and len(sent) == 1 and not any(name in lowered for name in others):
        return sent[0]
    return None


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(MAX_RETRY_AFTER_SECONDS, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None
