"""Creating a resource exactly once per command, whatever the redeliveries and retries.

The command id is the message id: a redelivered message keeps it, and the gateway derives it
from the `Idempotency-Key` header. A created document keeps its `Creation` record
(`creation.commandId`) under a unique index with its workspace; `insert_once` tells a taken id
from a command seen before, and the record answers a repeated command with the first answer;
the same command id with another body is a conflict.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.common import ContractModel
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict
from shared.store.outbox import outbox_entry

CREATION_INDEX = IndexModel([("workspace", ASCENDING), ("creation.commandId", ASCENDING)], unique=True)
ID_ATTEMPTS = 5


@dataclass(frozen=True)
class Creation:
    """How a document came to be: the command that created it and the answer it got."""

    command_id: str
    fingerprint: str
    response: dict

    def to_document(self) -> dict:
        return {"commandId": self.command_id, "fingerprint": self.fingerprint, "response": self.response}

    @classmethod
    def from_document(cls, document: dict) -> "Creation":
        return cls(document["commandId"], document["fingerprint"], document["response"])


class IdTaken(Exception):
    pass


class AlreadyCreated(Exception):
    def __init__(self, creation: Creation):
        super().__init__(creation.command_id)
        self.creation = creation


async def insert_once(collection: AsyncCollection, document: dict, creation: Creation, outbox: list[Envelope]) -> None:
    """Inserts a new document with its creation record and outbox; raises `IdTaken` if its
    `_id` exists, `AlreadyCreated` if its workspace saw this command before."""
    try:
        await collection.insert_one(
            {**document, "creation": creation.to_document(), "outbox": [outbox_entry(e) for e in outbox]}
        )
    except DuplicateKeyError as error:
        if "_id" in (error.details or {}).get("keyPattern", {}):
            raise IdTaken(document["_id"]) from error
        existing = await find_creation(collection, document["workspace"], creation.command_id)
        if existing is None:
            raise
        raise AlreadyCreated(existing) from error


async def find_creation(collection: AsyncCollection, workspace: str, command_id: str) -> Creation | None:
    document = await collection.find_one({"workspace": workspace, "creation.commandId": command_id}, {"creation": 1})
    return Creation.from_document(document["creation"]) if document else None


def fingerprint(command: ContractModel) -> str:
    """The command's body as it travels (`to_wire`). A contract whose defaults depend on when
    it is read (a trace's timestamp) travels without them, so that a retry of the same request
    has the same fingerprint."""
    canonical = json.dumps(command.to_wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_reused() -> Conflict:
    return Conflict("This Idempotency-Key was already used with a different request body")


def replay(creation: Creation, command: ContractModel) -> dict:
    """The first answer to this command, or a conflict if it came with another body."""
    if creation.fingerprint != fingerprint(command):
        raise key_reused()
    return creation.response


async def create_once[T](
    command_id: str,
    command: ContractModel,
    build: Callable[[], T],
    respond: Callable[[T], dict],
    insert: Callable[[T, Creation], Awaitable[None]],
) -> tuple[T | None, dict]:
    """Builds and inserts a new resource (a fresh id on a collision), or replays the answer a
    previous delivery of the same command got. Returns the resource (None when replayed) and
    the answer."""
    body_fingerprint = fingerprint(command)
    for _ in range(ID_ATTEMPTS):
        resource = build()
        response = respond(resource)
        try:
            await insert(resource, Creation(command_id, body_fingerprint, response))
        except IdTaken:
            continue
        except AlreadyCreated as seen:
            return None, replay(seen.creation, command)
        return resource, response
    raise RuntimeError(f"no free id after {ID_ATTEMPTS} attempts")
