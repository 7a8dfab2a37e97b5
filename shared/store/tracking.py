"""The record of the commands (and events) each aggregate applied, so that one redelivered is
not applied again: one document per (aggregate, command id), kept `APPLIED_COMMANDS_KEPT_FOR`
after it was applied, then removed by a TTL index (like pyeventsourcing's tracking records).

The window is a bound on redelivery: the broker redelivers a command or an event within
seconds to minutes of its first delivery (an unacknowledged message, a relay that published
before it could record the confirm), never days later."""

from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.store.mongo import store_call

APPLIED_COMMANDS_KEPT_FOR = timedelta(days=7)


def _key(aggregate_id: str, command_id: str) -> str:
    return f"{aggregate_id}/{command_id}"


class MongoAppliedCommands:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def ensure_indexes(self) -> None:
        seconds = int(APPLIED_COMMANDS_KEPT_FOR.total_seconds())
        await self._collection.create_indexes([IndexModel([("appliedAt", ASCENDING)], expireAfterSeconds=seconds)])

    @store_call
    async def contains(self, aggregate_id: str, command_id: str) -> bool:
        return await self._collection.find_one({"_id": _key(aggregate_id, command_id)}, {"_id": 1}) is not None

    @store_call
    async def record(self, aggregate_id: str, command_ids: list[str], applied_at: datetime) -> None:
        """Records commands applied to the aggregate (a command recorded twice keeps its first time)."""
        if command_ids:
            await self._collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": _key(aggregate_id, command_id)},
                        {"$setOnInsert": {"aggregateId": aggregate_id, "commandId": command_id,
                                          "appliedAt": applied_at}},
                        upsert=True,
                    )
                    for command_id in command_ids
                ],
                ordered=False,
            )
