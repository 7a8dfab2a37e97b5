"""A TCP proxy the tests can cut and restore, to take a dependency away from running services
without stopping it for everyone else. Runs its own event loop in a thread."""

import asyncio

from deploy.local.processes import LoopThread, free_port


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop_thread: LoopThread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> "TcpProxy":
        self._loop_thread = LoopThread()
        self.restore()
        return self

    def __exit__(self, *_exc) -> None:
        self.cut()
        self._loop_thread.stop()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        """Stops listening and drops every open connection, as a dead broker would."""
        self._call(self._close())

    def _call(self, coroutine) -> None:
        self._loop_thread.run(coroutine)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update({client_writer, upstream_writer})
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._writers.discard(writer)
