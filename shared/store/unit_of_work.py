"""The unit of work: handlers change aggregates, the unit of work stores them.

A handler reads aggregates through a `UnitOfWork` and changes them; nothing is written until
it returns. Then each aggregate that changed is saved with its version check and the events it
collected go into its outbox in the same write (Cosmic Python's `collect_new_events`), the
relay is notified, and the commands it applied are recorded (see `shared.store.tracking`). A
change made by someone else between the read and the write makes the whole attempt run again
on what is stored then (`Aggregates.change`).

A command applied is recorded in two steps, the document first (its `applied_commands`, with
the version check) and the tracking record next; the tracking record of the commands a
document holds is written before the document is saved again, so a command is always found
in one or the other until its window ends (a failure of the second step waits for that).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from shared.contracts.common import ContractModel, utc_now
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Contended, DeadlineExceeded, NotFound, Unavailable
from shared.messaging.commands import CommandContext
from shared.messaging.outbox import envelopes
from shared.store.creation import Creation, create_once
from shared.store.documents import ConcurrentUpdate

log = structlog.get_logger(__name__)

CONFLICT_ATTEMPTS = 10


class Versioned(Protocol):
    """What the unit of work reads of an aggregate (`Aggregate` has it all, and the record of
    the commands it applied)."""

    id: str
    version: int
    read_version: int
    events: list


class AggregateStore[A](Protocol):
    async def get(self, workspace: str, aggregate_id: str, **options) -> A | None: ...

    async def add(self, aggregate: A, creation: Creation, outbox: list[Envelope]) -> None:
        """Stores a new aggregate; raises `IdTaken` or `AlreadyCreated` (same command seen before)."""

    async def save(self, aggregate: A, outbox: list[Envelope]) -> None:
        """Stores a changed aggregate; raises `ConcurrentUpdate` if it changed since it was read."""


class AppliedCommands(Protocol):
    async def contains(self, aggregate_id: str, command_id: str) -> bool: ...

    async def record(self, aggregate_id: str, command_ids: list[str], applied_at: datetime) -> None: ...


async def retry_on_conflict[T](attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """Runs read-modify-write `attempt` until no concurrent change gets in between (at most
    `CONFLICT_ATTEMPTS` times, backing off with jitter); only a document that keeps changing
    is a `Contended` error."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(ConcurrentUpdate),
        stop=stop_after_attempt(CONFLICT_ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.005),
        retry_error_callback=lambda _: _contended(what),
    )
    return await retrying(attempt)


def _contended(what: str):
    raise Contended(f"{what} is being changed by many requests at once; try again")


@dataclass
class UnitOfWork[A: Versioned]:
    """One attempt at a command's change: the aggregates it read, saved when it commits."""

    aggregates: "Aggregates[A]"
    ctx: CommandContext
    seen: list[A] = field(default_factory=list)

    async def get(self, aggregate_id: str, **options) -> A | None:
        """The aggregate of the command's workspace (`options` go to the store's `get`)."""
        aggregate = await self.aggregates.store.get(self.ctx.workspace, aggregate_id, **options)
        if aggregate is None:
            return None
        if await self._recorded_as_applied(aggregate):
            aggregate.tracked(self.ctx.command_id)
        self.seen.append(aggregate)
        return aggregate

    async def _recorded_as_applied(self, aggregate: A) -> bool:
        applied, command_id = self.aggregates.applied, self.ctx.command_id
        if applied is None or aggregate.has_applied(command_id):
            return False
        return await applied.contains(aggregate.id, command_id)

    async def existing(self, aggregate_id: str, **options) -> A:
        aggregate = await self.get(aggregate_id, **options)
        if aggregate is None:
            raise NotFound(f"{self.aggregates.name} {aggregate_id} not found")
        return aggregate

    async def commit(self) -> None:
        for aggregate in self.seen:
            if aggregate.version != aggregate.read_version or aggregate.events:
                await self.aggregates.save(aggregate, self.ctx)


@dataclass(frozen=True)
class Aggregates[A: Versioned]:
    """How handlers create and change the aggregates of one store. `applied` is the tracking
    record of the commands they applied (None for aggregates that need none)."""

    store: AggregateStore[A]
    notify: Callable[[str], None]
    applied: AppliedCommands | None = None
    name: str = "Aggregate"
    clock: Callable[[], datetime] = utc_now

    async def read(self, ctx: CommandContext, aggregate_id: str, **options) -> A:
        """The aggregate as stored, to answer with (not to change); `NotFound` if there is none."""
        aggregate = await self.store.get(ctx.workspace, aggregate_id, **options)
        if aggregate is None:
            raise NotFound(f"{self.name} {aggregate_id} not found")
        return aggregate

    async def change[R](self, ctx: CommandContext, work: Callable[[UnitOfWork[A]], Awaitable[R]], what: str) -> R:
        """Runs `work` on fresh reads and commits what it changed, again if another writer
        got in between; `what` names the aggregate in the error of one that keeps changing."""

        async def attempt() -> R:
            unit = UnitOfWork(self, ctx)
            result = await work(unit)
            await unit.commit()
            return result

        return await retry_on_conflict(attempt, what)

    async def create(
        self, ctx: CommandContext, command: ContractModel, build: Callable[[], A], respond: Callable[[A], dict]
    ) -> tuple[A | None, dict]:
        """Inserts the aggregate `build` makes, with its events, once per command (see
        `create_once`); returns it (None when the command was seen before) and the answer."""

        async def insert(aggregate: A, creation: Creation) -> None:
            await self.store.add(aggregate, creation, envelopes(aggregate.events, ctx))

        aggregate, response = await create_once(ctx.command_id, command, build, respond, insert)
        if aggregate is not None:
            _collected(aggregate)
            self.notify(aggregate.id)
        return aggregate, response

    async def save(self, aggregate: A, ctx: CommandContext) -> None:
        """The document first (with its version check), its tracking records around it."""
        if self.applied is not None:
            await self.applied.record(aggregate.id, aggregate.commands_read, self.clock())
        await self.store.save(aggregate, envelopes(_collected(aggregate), ctx))
        self.notify(aggregate.id)
        if self.applied is not None:
            try:
                await self.applied.record(aggregate.id, aggregate.commands_applied_since_read, self.clock())
            except (Unavailable, DeadlineExceeded) as error:
                log.warning("command applied; its record waits for the next save", aggregate_id=aggregate.id,
                            correlation_id=ctx.correlation_id, error=str(error))


def _collected(aggregate: Versioned) -> list:
    events, aggregate.events = aggregate.events, []
    return events
