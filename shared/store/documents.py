"""A collection of versioned aggregates, each a document with a `version`, its creation record
and its outbox."""

from shared.contracts.envelope import Envelope
from shared.store.creation import Creation, find_creation, insert_once
from shared.store.mongo import store_call
from shared.store.outbox import MongoOutbox, push_outbox


class ConcurrentUpdate(Exception):
    """The document changed since it was read; read it again and re-apply the command."""


class VersionedDocuments(MongoOutbox):
    """New aggregates are inserted once per command; changed ones replaced only if nobody
    changed them since they were read, their events always in the same write."""

    @store_call
    async def insert(self, document: dict, creation: Creation, outbox: list[Envelope]) -> None:
        await insert_once(self._collection, document, creation, outbox)

    @store_call
    async def replace(
        self,
        document: dict,
        read_version: int,
        outbox: list[Envelope],
        *,
        only: tuple[str, ...] | None = None,
        where: dict | None = None,
    ) -> None:
        """Stores the new state of a document that was at `read_version` when read (only the
        fields named in `only`, when given, and only if it still matches `where`); raises
        `ConcurrentUpdate` if it changed meanwhile."""
        names = only or [key for key in document if key not in ("_id", "workspace", "createdAt")]
        fields = {name: document[name] for name in names}
        result = await self._collection.update_one(
            {"_id": document["_id"], "workspace": document["workspace"], "version": read_version, **(where or {})},
            {"$set": fields, "$push": push_outbox(outbox)},
        )
        if result.matched_count == 0:
            raise ConcurrentUpdate(document["_id"])

    @store_call
    async def find_creation(self, workspace: str, command_id: str) -> Creation | None:
        return await find_creation(self._collection, workspace, command_id)
