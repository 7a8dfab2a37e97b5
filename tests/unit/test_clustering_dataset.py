from eval.clustering.dataset import messages_of


def test_a_tool_result_names_the_tool_the_assistant_called():
    conversation = [
        {"role": "system", "content": "You are a billing assistant."},
        {"role": "user", "content": "What is my balance?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_2", "function": {"name": "get_balance", "arguments": "{}"}}],
        },
        {"role": "tool", "content": '{"error": "KeyError"}', "tool_call_id": "call_2"},
    ]
    messages = messages_of(conversation)
    assert [(m.role, m.tool_name) for m in messages] == [("user", None), ("assistant", None), ("tool", "get_balance")]
    assert messages[1].content == ""
