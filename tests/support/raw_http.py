"""HTTP/1.1 over a bare TCP stream: sends exactly the bytes given (an oversized request line,
a literal `NaN`), which an HTTP client library would refuse or rewrite."""

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PATCH", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def exchange(base_url: str, request: bytes, timeout: float = 30) -> RawResponse:
    """Sends one request and reads the answer up to the server's close (`Connection: close`)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = CIMultiDict(line.split(": ", 1) for line in header_lines if ": " in line)
    if headers.get("Transfer-Encoding") == "chunked":
        body = _unchunked(body)
    return RawResponse(int(status_line.split(" ")[1]), headers, body)


def _unchunked(body: bytes) -> bytes:
    data = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        data += rest[:size]
        body = rest[size + 2:]
    return data
