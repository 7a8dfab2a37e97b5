"""A MongoDB wire-protocol server for machines without MongoDB (mongoeco).

    python -m deploy.local.embedded_mongo --port 27018 [--path var/mongo/data.sqlite]

With `--path` the data lives in that SQLite file and survives restarts (and the server notes
itself beside it while it runs: deploy/local/store_file.py); without it, in memory. Prints
`ready <host>:<port>` once it accepts connections. For local runs and tests only: production
uses a real MongoDB replica set (see deploy/).
"""

import argparse
import asyncio
import dataclasses
import signal
from pathlib import Path

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire import AsyncMongoEcoProxyServer

from deploy.local.store_file import forget_server, note_server


class ExactIdMemoryEngine(MemoryEngine):
    """mongoeco (4.11) checks a single inserted or updated document's `_id` against every stored
    document's, decoding each, so that ids equal under BSON's numeric rules (1 and 1.0) collide:
    each write costs the whole collection, and `make run` slows to timeouts after a few thousand
    traces. Our ids are strings and ObjectIds, equal only when their storage keys are, which
    mongoeco checks first; it still scans for an id that holds a number."""

    def _ensure_unique_indexes(self, *args, scan_payload_id: bool = False, **kwargs) -> None:
        super()._ensure_unique_indexes(*args, scan_payload_id=False, **kwargs)


class ExactIdSQLiteEngine(SQLiteEngine):
    """The same as `ExactIdMemoryEngine`, for the SQLite engine, which loads every document of
    the collection from the file for that scan. It also delivers no change events: no service
    opens a change stream (events go through RabbitMQ), and delivering them after every write
    (a lease in the file and a thread each time, on the server's event loop) took a third of
    the store's time under load."""

    capabilities = dataclasses.replace(SQLiteEngine.capabilities, change_delivery="none")

    def _validate_document_against_unique_indexes(self, *args, scan_payload_id: bool = False, **kwargs) -> None:
        super()._validate_document_against_unique_indexes(*args, scan_payload_id=False, **kwargs)


async def serve(host: str, port: int, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = ExactIdSQLiteEngine(path) if path else ExactIdMemoryEngine()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncMongoEcoProxyServer(engine=engine, host=host, port=port) as server:
        if path:
            note_server(Path(path), server.address.port)
        try:
            print(f"ready {server.address.host}:{server.address.port}", flush=True)
            await stop.wait()
        finally:
            if path:
                forget_server(Path(path))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27018)
    parser.add_argument("--path", help="SQLite file to keep the data in; memory if absent")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.path))


if __name__ == "__main__":
    main()
