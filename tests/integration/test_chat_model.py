"""The OpenAI-compatible client against a local fake endpoint: retries, Retry-After, timeouts,
bounded concurrency, tools and tool calls."""

import asyncio
import time
import uuid

import aiohttp
import pytest

from deploy.local.demo_model import WRONG, Fault
from services.shadow_runner.adapters.chat_model import ChatModel, ModelError
from services.shadow_runner.domain.replay import ChatRequest
from shared.messaging.deadline import command_deadline
from tests.support.waiting import eventually


@pytest.fixture
async def client(fake_model):
    async with aiohttp.ClientSession() as session:
        def make(**options) -> ChatModel:
            settings = {"timeout": 5.0, "max_attempts": 3, "concurrency": 4, **options}
            return ChatModel(session, fake_model.url, "sk-test", label="replay", **settings)

        yield make


def ask(marker: str) -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[{"role": "user", "content": f"A refund? [{marker}]"}],
                       parameters={"temperature": 0})


async def test_a_plain_answer(client, fake_model):
    marker = uuid.uuid4().hex
    completion = await client().complete(ask(marker))
    assert (completion.text, completion.attempts) == (WRONG, 1)
    call = fake_model.calls_about(marker)[0]
    assert call["model"] == "gpt-test" and call["temperature"] == 0


async def test_retry_after_is_waited_out(client, fake_model):
    marker = uuid.uuid4().hex
    fake_model.fail(marker, Fault(status=429, retry_after="1"))
    started = time.monotonic()
    completion = await client().complete(ask(marker))
    assert completion.attempts == 2 and time.monotonic() - started >= 1.0


async def test_server_errors_are_retried_then_named(client, fake_model):
    marker = uuid.uuid4().hex
    fake_model.fail(marker, *[Fault(status=502)] * 3)
    with pytest.raises(ModelError, match=r"HTTP 502 \(after 3 attempts\)"):
        await client().complete(ask(marker))


async def test_a_client_error_is_not_retried(client, fake_model):
    marker = uuid.uuid4().hex
    fake_model.fail(marker, Fault(status=400, body="unknown model"))
    with pytest.raises(ModelError, match="HTTP 400: unknown model"):
        await client().complete(ask(marker))
    assert len(fake_model.calls_about(marker)) == 1


async def test_an_endpoint_that_never_answers_times_out_per_call(client, fake_model):
    marker = uuid.uuid4().hex
    fake_model.fail(marker, *[Fault(delay=3)] * 2)
    with pytest.raises(ModelError, match=r"no answer within 0.5s \(after 2 attempts\)"):
        await client(timeout=0.5, max_attempts=2).complete(ask(marker))


async def test_calls_are_bounded_per_client(client, fake_model):
    marker = uuid.uuid4().hex
    fake_model.fail(marker, *[Fault(delay=0.3)] * 6)
    await eventually(lambda: fake_model.in_flight == 0, 10, "earlier calls to end")
    fake_model.most_in_flight = 0
    bounded = client(concurrency=2)
    await asyncio.gather(*(bounded.complete(ask(marker)) for _ in range(6)))
    assert fake_model.most_in_flight == 2


async def test_a_wait_that_would_outlast_the_commands_deadline_is_not_waited(client, fake_model):
    marker = uuid.uuid4().hex
    fake_model.fail(marker, Fault(status=429, retry_after="5"))
    started = time.monotonic()
    with command_deadline(time.time() + 2), pytest.raises(ModelError, match=r"HTTP 429 \(after 1 attempt\)"):
        await client().complete(ask(marker))
    assert time.monotonic() - started < 1.5 and len(fake_model.calls_about(marker)) == 1


async def test_tools_are_sent_and_the_tool_calls_asked_for_come_back(client, fake_model):
    from services.shadow_runner.domain.replay import AskedCall

    marker = uuid.uuid4().hex
    tools = [{"type": "function", "function": {"name": "lookup_order", "description": "An order.",
                                               "parameters": {"type": "object", "properties": {"order_id": {}}}}}]
    request = ChatRequest(model="gpt-test", tools=tools,
                          messages=[{"role": "user", "content": f"Where is order A-17? [{marker}]"}])
    completion = await client().complete(request)
    assert completion.text == "" and completion.tool_calls == [
        AskedCall("call_0_0", "lookup_order", '{"order_id": "A-17"}')]
    assert fake_model.calls_about(marker)[0]["tools"] == tools


async def test_a_reply_with_neither_text_nor_well_formed_tool_calls_is_retried_then_named(client, fake_model):
    marker = uuid.uuid4().hex
    garbage = '{"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [{"id": "c"}]}}]}'
    fake_model.fail(marker, *[Fault(body=garbage)] * 3)
    with pytest.raises(ModelError, match=r"tool_calls.0 has no function name\) \(after 3 attempts\)"):
        await client().complete(ask(marker))
