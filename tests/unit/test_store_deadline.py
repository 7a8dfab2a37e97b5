import time

import pytest
from pymongo import _csot

from shared.contracts.errors import DeadlineExceeded
from shared.messaging.deadline import command_deadline, remaining
from shared.settings import CommonSettings
from shared.store.mongo import mongo_client, store_call


class Store:
    def __init__(self):
        self.calls = 0

    @store_call
    async def write(self):
        self.calls += 1
        return "written"


async def test_a_store_call_past_the_commands_deadline_is_not_made():
    store = Store()
    with command_deadline(time.time() - 0.01), pytest.raises(DeadlineExceeded):
        await store.write()
    assert store.calls == 0


async def test_a_store_call_within_the_deadline_or_outside_a_command_runs():
    store = Store()
    with command_deadline(time.time() + 5):
        assert 0 < remaining() <= 5
        assert await store.write() == "written"
    assert remaining() is None
    assert await store.write() == "written"


class CollectionStore:
    def __init__(self, collection):
        self._collection = collection

    @store_call
    async def timeout_given(self):
        return _csot.get_timeout()


async def test_creating_a_client_changes_no_other_clients_store_timeout():
    three_seconds = mongo_client(CommonSettings(store_timeout_seconds=3), "first")
    store = CollectionStore(three_seconds["db"]["things"])
    quarter_second = mongo_client(CommonSettings(store_timeout_seconds=0.25), "second")
    try:
        assert await store.timeout_given() is None  # outside a command, the client's own timeoutMS applies
        with command_deadline(time.time() + 10):
            assert 2.5 < await store.timeout_given() <= 3
        with command_deadline(time.time() + 1):
            assert 0.5 < await store.timeout_given() <= 1
    finally:
        await three_seconds.close()
        await quarter_second.close()
