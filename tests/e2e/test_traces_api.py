"""Ingesting and reading traces."""

import asyncio
import uuid

import pytest

from tests.conftest import running_stack, workspace_api

pytestmark = pytest.mark.e2e


def trace(**fields) -> dict:
    return {
        "agentId": "agent_support",
        "agentName": "Support Bot",
        "customerId": "cust_1",
        "timestamp": "2025-08-10T11:22:00Z",
        "model": {"name": "gpt-4o-mini", "parameters": {"temperature": 0.3}},
        "systemPrompt": "Answer refund questions using the knowledge base.",
        "input": [{"role": "user", "content": "Can I return my order after 45 days?"}],
        "context": [{"id": "policy-2023", "content": "Returns within 60 days."}],
        "output": "Yes, our policy allows returns within 60 days.",
        "expectedOutput": "No. Returns are accepted within 30 days of purchase.",
        "status": "ok",
        "feedback": {"score": 0.1, "comment": "wrong policy"},
        "metadata": {"channel": "chat"},
        **fields,
    }


async def test_a_batch_is_stored_and_read_back_as_sent(api):
    response = await api.post("/api/v2/traces", json={"traces": [trace(id="tr_given_1"), trace()]})
    assert response.status == 201
    created = response.data["created"]
    assert created[0] == "tr_given_1" and created[1].startswith("tr_") and response.data["existing"] == []
    stored = (await api.get("/api/v2/traces/tr_given_1")).data
    expected = {**trace(id="tr_given_1"), "timestamp": "2025-08-10T11:22:00.000Z",
                "context": [{"id": "policy-2023", "content": "Returns within 60 days.", "title": None, "source": None}]}
    assert {key: stored[key] for key in expected} == expected
    assert stored["ingestedAt"].endswith("Z")


async def test_re_sending_a_trace_leaves_it_as_it_was(api):
    await api.post("/api/v2/traces", json={"traces": [trace(id="tr_same", output="first")]})
    batch = [trace(id="tr_same", output="second"), trace(id="tr_new")]
    again = await api.post("/api/v2/traces", json={"traces": batch})
    assert again.status == 201
    assert again.data == {"created": ["tr_new"], "existing": ["tr_same"]}
    assert (await api.get("/api/v2/traces/tr_same")).data["output"] == "first"
    all_known = await api.post("/api/v2/traces", json={"traces": [trace(id="tr_same")]})
    assert all_known.status == 200 and all_known.data == {"created": [], "existing": ["tr_same"]}


async def test_a_tool_using_run_sent_as_steps_reads_back_with_its_conversation(api):
    weather = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                                "parameters": {"type": "object",
                                                               "properties": {"city": {"type": "string"}}}}}
    steps = [{"callId": "call_p", "name": "get_weather", "arguments": {"city": "Paris"}, "result": {"celsius": 12},
              "startedAt": "2025-08-10T11:22:01Z", "endedAt": "2025-08-10T11:22:02Z"},
             {"name": "get_forecast", "arguments": {"city": "Paris"}, "error": "no such tool"}]
    sent = trace(id="tr_tools", tools=[weather], steps=steps, output="It is 12°C in Paris.")
    assert (await api.post("/api/v2/traces", json={"traces": [sent]})).status == 201
    stored = (await api.get("/api/v2/traces/tr_tools")).data
    assert stored["tools"] == [{**weather, "function": {**weather["function"], "strict": None}}]
    assert [(s["callId"], s["name"], s["arguments"], s["result"], s["status"], s["turn"]) for s in stored["steps"]] == [
        ("call_p", "get_weather", {"city": "Paris"}, {"celsius": 12}, "ok", 0),
        ("call_2", "get_forecast", {"city": "Paris"}, None, "error", 1)]
    assert stored["steps"][0]["endedAt"] == "2025-08-10T11:22:02.000Z"
    def asked(call_id: str, name: str) -> dict:
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}]}

    assert stored["input"][1:] == [
        asked("call_p", "get_weather"), {"role": "tool", "tool_call_id": "call_p", "content": '{"celsius": 12}'},
        asked("call_2", "get_forecast"), {"role": "tool", "tool_call_id": "call_2", "content": "no such tool"}]
    listed = (await api.get("/api/v2/traces")).data
    assert listed[0]["steps"] == stored["steps"]
    cut_short = [{"role": "user", "content": "Hi"}, {"role": "tool", "tool_call_id": "c", "content": "x"}]
    assert (await api.post("/api/v2/traces", json={"traces": [trace(id="tr_cut", input=cut_short)]})).status == 201
    kept = (await api.get("/api/v2/traces/tr_cut")).data
    assert kept["input"] == cut_short and kept["steps"] == []
    toolless = trace(input=[{"role": "user", "content": "Hi"}, {"role": "tool", "content": "x"}])
    refused = await api.post("/api/v2/traces", json={"traces": [toolless]})
    assert refused.status == 400 and "a tool message needs the tool_call_id it answers" in refused.error["message"]


async def test_list_filters_by_agent_status_and_time(api):
    batch = [
        trace(id="tr_a1", agentId="a", timestamp="2025-08-01T00:00:00Z"),
        trace(id="tr_a2", agentId="a", timestamp="2025-08-05T00:00:00Z", status="error"),
        trace(id="tr_b1", agentId="b", timestamp="2025-08-03T00:00:00Z"),
    ]
    await api.post("/api/v2/traces", json={"traces": batch})

    async def ids(**params):
        return [t["id"] for t in (await api.get("/api/v2/traces", params=params)).data]

    assert await ids() == ["tr_a2", "tr_b1", "tr_a1"]
    assert await ids(agentId="a") == ["tr_a2", "tr_a1"]
    assert await ids(status="error") == ["tr_a2"]
    assert await ids(**{"from": "2025-08-02T00:00:00Z", "to": "2025-08-04T00:00:00Z"}) == ["tr_b1"]
    page = await api.get("/api/v2/traces", params={"limit": 2, "page": 2})
    assert page.body["pagination"] == {"page": 2, "limit": 2, "total": 3, "hasMore": False}


async def test_bad_batches_are_refused_whole_with_the_field_named(api):
    too_many = await api.post("/api/v2/traces", json={"traces": [trace() for _ in range(501)]})
    assert too_many.status == 400 and too_many.error["details"][0]["field"] == "traces"
    repeated = await api.post("/api/v2/traces", json={"traces": [trace(id="tr_x"), trace(id="tr_x")]})
    assert repeated.status == 400 and repeated.error["details"][0]["field"] == "traces.0.id"
    broken = await api.post("/api/v2/traces", json={"traces": [trace(), trace(input=[])]})
    assert broken.status == 400 and broken.error["details"][0]["field"] == "traces.1.input"
    assert (await api.get("/api/v2/traces")).data == []


async def test_traces_belong_to_their_workspace(api, stack, mongo_client, http):
    from tests.conftest import workspace_api

    other = await workspace_api(stack, mongo_client, http)
    await api.post("/api/v2/traces", json={"traces": [trace(id="tr_shared_id", output="mine")]})
    theirs = await other.post("/api/v2/traces", json={"traces": [trace(id="tr_shared_id", output="theirs")]})
    assert theirs.data["created"] == ["tr_shared_id"]
    assert (await api.get("/api/v2/traces/tr_shared_id")).data["output"] == "mine"
    assert (await other.get("/api/v2/traces/tr_shared_id")).data["output"] == "theirs"
    assert (await other.get("/api/v2/traces/tr_missing")).status == 404


async def test_idempotent_ingestion(api):
    body = {"traces": [trace()]}
    first = await api.post("/api/v2/traces", json=body, headers={"Idempotency-Key": "batch-1"})
    again = await api.post("/api/v2/traces", json=body, headers={"Idempotency-Key": "batch-1"})
    assert again.data == first.data and again.headers["Idempotent-Replayed"] == "true"
    assert len((await api.get("/api/v2/traces")).data) == 1
    other = await api.post("/api/v2/traces", json={"traces": [trace(id="tr_other_batch")]},
                           headers={"Idempotency-Key": "batch-1"})
    assert other.status == 409 and other.error["code"] == "CONFLICT"
    assert (await api.get("/api/v2/traces/tr_other_batch")).status == 404


async def test_issue_metadata_comes_from_its_traces_whenever_they_arrive(api):
    early = [trace(id="tr_early_1", customerId="c1", timestamp="2025-08-10T11:22:00Z"),
             trace(id="tr_early_2", customerId="c2", timestamp="2025-08-12T09:00:00Z")]
    await api.post("/api/v2/traces", json={"traces": early})

    issue = await api.create_issue(agentId="agent_support", traceIds=["tr_early_1", "tr_early_2", "tr_late"])
    detail = await api.issue_when(issue["id"], lambda i: i["metadata"]["affectedCustomers"] == 2, "early traces")
    assert detail["metadata"]["firstSeenAt"] == "2025-08-10T11:22:00.000Z"
    assert detail["metadata"]["lastSeenAt"] == "2025-08-12T09:00:00.000Z"
    assert detail["agentName"] == "Support Bot"

    late = trace(id="tr_late", customerId="c3", timestamp="2025-08-14T09:15:00Z")
    await api.post("/api/v2/traces", json={"traces": [late, trace(id="tr_unrelated", customerId="c9")]})
    updated = await api.issue_when(issue["id"], lambda i: i["metadata"]["affectedCustomers"] == 3, "the late trace")
    assert updated["metadata"]["lastSeenAt"] == "2025-08-14T09:15:00.000Z"
    assert updated["metadata"]["firstSeenAt"] == "2025-08-10T11:22:00.000Z"


async def test_an_issue_learns_its_agents_name_from_later_traces(api):
    issue = await api.create_issue(agentId="agent_named_later")
    assert issue["agentName"] is None
    await api.post("/api/v2/traces", json={"traces": [trace(agentId="agent_named_later", agentName="Billing Bot")]})
    named = await api.issue_when(issue["id"], lambda i: i["agentName"] is not None, "the agent's name")
    assert named["agentName"] == "Billing Bot"


def untimed_trace(**fields) -> dict:
    body = trace(**fields)
    del body["timestamp"]
    return body


async def test_the_same_key_and_body_without_timestamps_replays_the_first_answer_and_time(api):
    body = {"traces": [untimed_trace(id="tr_untimed"), untimed_trace()]}
    first = await api.post("/api/v2/traces", json=body, headers={"Idempotency-Key": "untimed-1"})
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    stored = (await api.get("/api/v2/traces/tr_untimed")).data
    again = await api.post("/api/v2/traces", json=body, headers={"Idempotency-Key": "untimed-1"})
    assert again.status == 201, again.body
    assert again.data == first.data and again.headers["Idempotent-Replayed"] == "true"
    assert (await api.get("/api/v2/traces/tr_untimed")).data == stored
    assert stored["timestamp"] == stored["ingestedAt"]
    assert len((await api.get("/api/v2/traces")).data) == 2


async def test_twenty_identical_concurrent_requests_with_one_key_store_one_batch(api):
    body = {"traces": [untimed_trace(customerId=f"cust_{n}") for n in range(45)]}
    answers = await asyncio.gather(*[api.post("/api/v2/traces", json=body, headers={"Idempotency-Key": "burst-1"})
                                     for _ in range(20)])
    assert [answer.status for answer in answers] == [201] * 20, [answer.body for answer in answers]
    assert sorted(answer.headers.get("Idempotent-Replayed", "no") for answer in answers) == ["no"] + ["true"] * 19
    assert all(answer.data == answers[0].data for answer in answers)
    created = answers[0].data["created"]
    listed = await api.get("/api/v2/traces", params={"limit": 100})
    assert sorted(t["id"] for t in listed.data) == sorted(created) and len(set(created)) == 45
    assert len({t["timestamp"] for t in listed.data}) == 1


@pytest.fixture
async def hurried_store_stack(amqp, mongo, log_dir, mongo_client, namespaces):
    """Every store call must answer within 0.1 s: one insert of 200 traces takes longer on the
    embedded store, as it can on a loaded MongoDB within the default 3 s."""
    async with running_stack(amqp, mongo, log_dir, mongo_client, namespaces, store_timeout_seconds="0.1") as running:
        yield running


async def stored_ids(stack, mongo_client, workspace: str) -> list[str]:
    """What the store holds (listing pages would outlast this stack's store timeout)."""
    documents = mongo_client[stack.database]["traces"].find({"workspace": workspace}, {"id": 1})
    return [document["id"] async for document in documents]


def failed_honestly(response) -> bool:
    """A store too slow for its timeout fails the batch part of the way (saying what may be
    stored) or, on a loaded machine, before the first write is confirmed: both are safe to send
    again, and say so."""
    assert response.status in (503, 504), response.body
    message = response.error["message"]
    assert "Part of this batch may have been stored" in message or "unreachable" in message, response.body
    return True


SLOW_STORE_ATTEMPTS = 30


async def test_a_batch_slower_to_store_than_the_store_timeout_is_stored_once_with_a_key(
        hurried_store_stack, mongo_client, http):
    workspace = f"ws-{uuid.uuid4().hex[:10]}"
    api = await workspace_api(hurried_store_stack, mongo_client, http, workspace)
    body = {"traces": [trace(id=f"tr_big_{n}") if n % 2 else trace(customerId=f"c{n}") for n in range(200)]}
    response = await api.post("/api/v2/traces", json=body, headers={"Idempotency-Key": "big-batch"})
    for _ in range(SLOW_STORE_ATTEMPTS):
        if response.status == 201 or not failed_honestly(response):
            break
        response = await api.post("/api/v2/traces", json=body, headers={"Idempotency-Key": "big-batch"})
    assert response.status == 201, response.body
    assert len(set(response.data["created"])) == 200 and response.data["existing"] == []
    assert sorted(await stored_ids(hurried_store_stack, mongo_client, workspace)) == sorted(response.data["created"])


async def test_a_batch_slower_to_store_than_the_store_timeout_is_stored_once_without_a_key(
        hurried_store_stack, mongo_client, http):
    """Without a key, a failure part of the way names the ids the unnamed traces were stored
    under, if they were; sent again with them, each trace is stored once."""
    workspace = f"ws-{uuid.uuid4().hex[:10]}"
    api = await workspace_api(hurried_store_stack, mongo_client, http, workspace)
    batch = [trace(id=f"tr_big_{n}") if n % 2 else trace(customerId=f"c{n}") for n in range(200)]
    response = await api.post("/api/v2/traces", json={"traces": batch})
    for _ in range(SLOW_STORE_ATTEMPTS):
        if response.status in (200, 201) or not failed_honestly(response):
            break
        for detail in response.error.get("details") or []:
            index = int(detail["field"].split(".")[1])
            batch[index] = {**batch[index], "id": detail["message"].split()[2].rstrip(",")}
        response = await api.post("/api/v2/traces", json={"traces": batch})
    assert response.status in (200, 201), response.body
    answered = response.data["created"] + response.data["existing"]
    assert len(set(answered)) == 200
    assert sorted(await stored_ids(hurried_store_stack, mongo_client, workspace)) == sorted(answered)
