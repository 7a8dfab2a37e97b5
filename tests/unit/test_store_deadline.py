import time

import pytest

from shared.contracts.errors import DeadlineExceeded
from shared.messaging.deadline import command_deadline, remaining
from shared.store.mongo import store_call


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
