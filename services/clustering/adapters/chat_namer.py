"""Any OpenAI-compatible `/chat/completions` endpoint as the model that names new issues.

A call is bounded by `timeout` and tried `attempts` times: a 429, a 5xx, a timeout or a dropped
connection is retried with exponential backoff (tenacity's); another answer that is not a chat
completion, or the last failure, raises `NamingFailed`, and the issue keeps its deterministic
title. At most `concurrency` calls are in flight."""

import asyncio

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

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
    ):
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._attempts = attempts
        self._slots = asyncio.Semaphore(concurrency)

    async def complete(self, messages: list[dict]) -> str:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            wait=wait_exponential(multiplier=0.5, max=4),
            stop=stop_after_attempt(self._attempts),
            reraise=True,
        )
        async with self._slots:
            async for attempt in retrying:
                with attempt:
                    return await self._call(messages)
        raise AssertionError("unreachable: tenacity reraises the last failure")

    async def _call(self, messages: list[dict]) -> str:
        body = {"model": self._model, "messages": messages, "temperature": 0}
        try:
            async with self._session.post(
                self._url, json=body, headers=self._headers, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as response:
                if response.status == 429 or response.status >= 500:
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
