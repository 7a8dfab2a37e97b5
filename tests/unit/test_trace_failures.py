"""What a `traces.ingested` event carries of a failing trace: the assistant's tool calls among
the user and tool messages, each within its budget."""

from services.traces.domain.failures import CALL_CHARS, CALLS_CHARS, MESSAGE_COST, failing_trace
from shared.contracts.traces import FailingTrace


def document(*calls, text="Done, I've deleted it."):
    return {
        "id": "tr_1",
        "status": "error",
        "input": [
            {"role": "system", "content": "You run commands."},
            {"role": "user", "content": "clean up the old volumes"},
            {"role": "assistant", "content": "On it.", "tool_calls": [
                {"id": f"call_{n}", "type": "function", "function": function} for n, function in enumerate(calls)
            ]},
            {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call_0"},
        ],
        "output": text,
    }


def test_the_assistants_tool_calls_are_carried_in_order_without_its_words():
    carried = failing_trace(document({"name": "run_command", "arguments": '{"command": "nf volume delete v1"}'}))
    assert [(m.role, m.tool_name, m.content) for m in carried.messages] == [
        ("user", None, "clean up the old volumes"),
        ("assistant", "run_command", '{"command": "nf volume delete v1"}'),
        ("tool", "run_command", '{"ok": true}'),
    ]
    assert FailingTrace.model_validate(carried.model_dump(by_alias=True)) == carried


def test_call_arguments_are_cut_to_their_budget_and_nameless_calls_left_out():
    long = {"name": "run_command", "arguments": "x" * 5000}
    carried = failing_trace(document({"arguments": "{}"}, *[long] * 10))
    calls = [m for m in carried.messages if m.role == "assistant"]
    assert calls and all(len(m.content) <= CALL_CHARS and m.tool_name == "run_command" for m in calls)
    assert sum(len(m.content) for m in calls) <= CALLS_CHARS


def test_many_tiny_calls_cannot_make_a_large_event():
    tiny = {"name": "t" * 500, "arguments": ""}
    carried = failing_trace(document(*[tiny] * 1000))
    calls = [m for m in carried.messages if m.role == "assistant"]
    assert len(calls) <= CALLS_CHARS // MESSAGE_COST
    assert len(carried.model_dump_json(by_alias=True)) < 20_000


def test_arguments_stored_as_an_object_are_carried_as_json():
    carried = failing_trace(document({"name": "block_card", "arguments": {"card_id": "crd_1"}}, text="Blocked."))
    assert [m.content for m in carried.messages if m.role == "assistant"] == ['{"card_id": "crd_1"}']
