"""Creating a resource exactly once per command, whatever the redeliveries and retries.

The command id is the message id: a redelivered message keeps it, and the gateway derives it
from the `Idempotency-Key` header. The stored `Creation` record answers a repeated command
with the first answer; the same command id with another body is a conflict.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable

from shared.contracts.common import ContractModel
from shared.contracts.errors import Conflict
from shared.messaging.mongo import AlreadyCreated, Creation, IdTaken

ID_ATTEMPTS = 5


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
