"""Calling receivers over HTTP: one POST per attempt, bounded by `WEBHOOK_TIMEOUT_SECONDS`,
redirects never followed, and (unless `WEBHOOK_ALLOW_PRIVATE`) connections only to globally
routable addresses: the resolver the connection itself uses refuses a name that resolves to a
private one, so a name that changes its answer between the check and the call is refused too."""

import asyncio
import socket
import time

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from services.delivery.domain.model import SNIPPET_CHARS, Response, forbidden_address

READ_LIMIT = 4 * SNIPPET_CHARS


class PublicOnlyResolver(AbstractResolver):
    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if any(forbidden_address(result["host"]) for result in results):
            raise OSError(f"{host} resolves to a private address; refused")
        return results

    async def close(self) -> None:
        await self._inner.close()


class SystemResolver:
    async def addresses(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [info[4][0] for info in infos]


class HttpReceivers:
    def __init__(self, timeout: float, allow_private: bool):
        self._timeout = timeout
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=200, resolver=None if self._allow_private else PublicOnlyResolver())
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout),
                                              auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Response:
        started = time.monotonic()
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                snippet = (await response.content.read(READ_LIMIT)).decode("utf-8", "replace")
                return Response(response.status, _ms_since(started), snippet=snippet)
        except TimeoutError:
            return Response(None, _ms_since(started), error=f"timed out after {self._timeout:g}s")
        except (aiohttp.ClientError, OSError, UnicodeError, ValueError) as error:
            return Response(None, _ms_since(started), error=f"{type(error).__name__}: {error}"[:300])


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
