from collections import Counter

from eval.clustering.dataset import labelled, messages_of, records
from services.clustering.domain.model import is_failing
from shared.contracts.traces import TraceInput


def test_a_tool_result_names_the_tool_the_assistant_called_and_the_call_is_kept():
    conversation = [
        {"role": "system", "content": "You are a billing assistant."},
        {"role": "user", "content": "What is my balance?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [{"id": "call_2", "function": {"name": "get_balance", "arguments": "{}"}}],
        },
        {"role": "tool", "content": '{"error": "KeyError"}', "tool_call_id": "call_2"},
    ]
    messages = messages_of(conversation)
    assert [(m.role, m.content, m.tool_name) for m in messages] == [
        ("user", "What is my balance?", None), ("assistant", "{}", "get_balance"),
        ("tool", '{"error": "KeyError"}', "get_balance"),
    ]


def assert_blind_shape(name: str, one_offs_at_most: int, exactly_eight_modes: bool = True) -> None:
    traces, modes = labelled(name)
    counts = Counter(mode for mode in modes.values() if mode is not None)
    assert (len(counts) == 8 if exactly_eight_modes else len(counts) >= 8) and min(counts.values()) >= 12
    assert 12 <= sum(mode is None for mode in modes.values()) <= one_offs_at_most
    assert all(is_failing(trace, 0.5) for trace in traces if modes[trace.id] is not None)
    assert len({trace.id for trace in traces}) == len(traces)


def test_the_blind_set_has_eight_modes_of_at_least_twelve_failing_traces_and_one_offs():
    assert_blind_shape("blind", 15, exactly_eight_modes=False)


def test_the_second_blind_set_has_eight_modes_of_at_least_twelve_failing_traces_and_one_offs():
    assert_blind_shape("blind2", 16)


def test_the_third_blind_set_has_eight_modes_of_at_least_twelve_failing_traces_and_one_offs():
    assert_blind_shape("blind3", 16)


def test_every_line_of_the_third_blind_set_is_a_trace_input_of_the_api():
    for record in records("blind3"):
        TraceInput.model_validate({key: value for key, value in record.items() if key != "mode"})


def test_the_fourth_and_fifth_blind_sets_have_eight_modes_of_at_least_twelve_failing_traces_and_one_offs():
    assert_blind_shape("blind4", 16)
    assert_blind_shape("blind5", 16)


def test_the_sixth_blind_set_has_eight_modes_of_at_least_twelve_failing_traces_and_one_offs():
    assert_blind_shape("blind6", 16)


def test_the_seventh_blind_set_has_eight_modes_of_at_least_twelve_failing_traces_and_one_offs():
    assert_blind_shape("blind7", 16)
    for record in records("blind7"):
        TraceInput.model_validate({key: value for key, value in record.items() if key != "mode"})


def test_the_eighth_blind_set_has_eight_modes_of_at_least_twelve_failing_traces_and_one_offs():
    assert_blind_shape("blind8", 16)
    for record in records("blind8"):
        TraceInput.model_validate({key: value for key, value in record.items() if key != "mode"})
