"""Any OpenAI-compatible `/chat/completions` endpoint as the model that names new issues.

A call is bounded by `timeout` and tried `attempts` times: a 408, a 429, a 5xx, a timeout or a
dropped connection is retried with exponential backoff and jitter (tenacity's); another answer
that is not a chat completion, or the last failure, raises `NamingFailed`, and the issue keeps
its automatic title. At most `concurrency` calls are in flight. After `trip_after` calls in a
row have failed, calls fail at once for `cool_off` seconds (then one is tried again), so that a
model that is down does not hold every new issue for its timeouts."""

import asyncio
import time

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

from services.clustering.ports import NamingFailed


class _Retryable(NamingFailed):
    pass


class ChatIssueNamer:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 20.0,
        attempts: int = 3,
        concurrency: int = 4,
        trip_after: int = 3,
        cool_off: float = 60.0,
    ):
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._attempts = attempts
        self._slots = asyncio.Semaphore(concurrency)
        self._trip_after = trip_after
        self._cool_off = cool_off
        self._failures_in_a_row = 0
        self._resting_until = 0.0

    async def complete(self, messages: list[dict]) -> str:
        if time.monotonic() < self._resting_until:
            raise NamingFailed(f"not asked: {self._url} failed {self._failures_in_a_row} times in a row")
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            wait=wait_exponential(multiplier=0.5, max=4) + wait_random(0, 0.25),
            stop=stop_after_attempt(self._attempts),
            reraise=True,
        )
        try:
            async with self._slots:
                reply = await retrying(self._call, messages)
        except NamingFailed:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self._trip_after:
                self._resting_until = time.monotonic() + self._cool_off
            raise
        self._failures_in_a_row = 0
        return reply

    async def _call(self, messages: list[dict]) -> str:
        body = {"model": self._model, "messages": messages}
        try:
            async with self._session.post(
                self._url, json=body, headers=self._headers, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as response:
                if response.status in (408, 429) or response.status >= 500:
                    raise _Retryable(f"{self._url} answered HTTP {response.status}")
                if response.status != 200:
                    raise NamingFailed(f"{self._url} answered HTTP {response.status}: {(await response.text())[:200]}")
                payload = await response.json(content_type=None)
        except TimeoutError:
            raise _Retryable(f"{self._url} gave no answer within {self._timeout:g}s") from None
        except aiohttp.ClientError as error:
            raise _Retryable(f"{self._url} failed: {type(error).__name__}: {error}") from None
        except ValueError as error:
            raise NamingFailed(f"{self._url} answered something that is not JSON: {error}") from None
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            raise NamingFailed(f"{self._url} answered no chat completion ({error!r})") from None
        if not isinstance(content, str):
            raise NamingFailed(f"{self._url} answered a completion without text")
        return content
