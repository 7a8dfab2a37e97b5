"""The store plumbing's retry policies: waiting for the store at start-up, and re-running a
read-modify-write that another writer got in between."""

import asyncio

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from shared.contracts.errors import Contended
from shared.store.documents import ConcurrentUpdate
from shared.store.mongo import wait_for_store
from shared.store.unit_of_work import CONFLICT_ATTEMPTS, retry_on_conflict


class Flaky:
    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.calls = failures, error, 0
        self.called = asyncio.Event()

    async def __call__(self):
        self.calls += 1
        self.called.set()
        if self.calls <= self.failures:
            raise self.error
        return "done"


async def test_the_store_is_waited_for_until_it_answers():
    prepare = Flaky(2, ServerSelectionTimeoutError("down"))
    assert await wait_for_store(prepare, retry_interval=0.01) is True
    assert prepare.calls == 3


async def test_waiting_for_the_store_ends_when_asked_to_stop():
    stop = asyncio.Event()
    prepare = Flaky(10**6, ServerSelectionTimeoutError("down"))
    waiting = asyncio.create_task(wait_for_store(prepare, retry_interval=30, stop=stop))
    await prepare.called.wait()
    stop.set()
    assert await asyncio.wait_for(waiting, 5) is False
    assert prepare.calls == 1


async def test_an_error_other_than_an_unreachable_store_is_not_retried():
    prepare = Flaky(1, ValueError("a bug"))
    with pytest.raises(ValueError):
        await wait_for_store(prepare, retry_interval=0.01)
    assert prepare.calls == 1


async def test_a_concurrent_change_is_retried_and_one_that_never_stops_is_contended():
    attempt = Flaky(CONFLICT_ATTEMPTS - 1, ConcurrentUpdate("iss_1"))
    assert await retry_on_conflict(attempt, "Issue iss_1") == "done"
    attempt = Flaky(CONFLICT_ATTEMPTS, ConcurrentUpdate("iss_1"))
    with pytest.raises(Contended, match="Issue iss_1 is being changed by many requests at once"):
        await retry_on_conflict(attempt, "Issue iss_1")
    assert attempt.calls == CONFLICT_ATTEMPTS
