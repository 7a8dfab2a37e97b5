"""What a `traces.ingested` event says of a trace that may have failed, for clustering: its
user and tool messages (tool messages naming their tool), the tool calls the assistant made
(the tool and its arguments), the answer and the feedback, each cut to a budget so that an
event of 500 traces stays a few megabytes at most."""

import json

from shared.contracts.traces import FailingTrace, FailureMessage

MAY_FAIL_BELOW = 1.0
MESSAGE_CHARS = 2000
USER_CHARS = 4000
TOOL_CHARS = 8000
CALL_CHARS = 500
CALLS_CHARS = 2000
NAME_CHARS = 128
MESSAGE_COST = 40
"""What a message costs its budget beyond its text: its JSON and its tool's name, so that many
tiny messages cannot make a large event."""
OUTPUT_CHARS = 4000
COMMENT_CHARS = 2000


def may_fail(document: dict) -> bool:
    score = (document.get("feedback") or {}).get("score")
    return document.get("status") == "error" or (score is not None and score < MAY_FAIL_BELOW)


def failing_trace(document: dict) -> FailingTrace:
    """From a stored trace document (camelCase fields, `input` in the OpenAI format)."""
    called = {call.get("id"): (call.get("function") or {}).get("name")
              for message in document.get("input", []) for call in message.get("tool_calls") or []}
    budgets = {"user": USER_CHARS, "tool": TOOL_CHARS, "assistant": CALLS_CHARS}
    messages = []
    for message in document.get("input", []):
        role = message.get("role")
        if role == "assistant":
            messages.extend(tool_calls(message, budgets))
            continue
        content = message.get("content") or ""
        if role not in budgets or not content.strip() or budgets[role] <= 0:
            continue
        text = content[:min(MESSAGE_CHARS, budgets[role])]
        tool = called.get(message.get("tool_call_id")) if role == "tool" else None
        tool = tool[:NAME_CHARS] if isinstance(tool, str) and tool else None
        budgets[role] -= len(text) + len(tool or "") + MESSAGE_COST
        messages.append(FailureMessage(role=role, content=text, tool_name=tool))
    feedback = document.get("feedback") or {}
    return FailingTrace(
        trace_id=document["id"],
        status=document.get("status", "ok"),
        messages=messages,
        output=(document.get("output") or "")[:OUTPUT_CHARS],
        feedback_score=feedback.get("score"),
        feedback_comment=(feedback.get("comment") or None) and feedback["comment"][:COMMENT_CHARS],
    )


def tool_calls(message: dict, budgets: dict[str, int]) -> list[FailureMessage]:
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str) or not name or budgets["assistant"] <= 0:
            continue
        text = as_text(function.get("arguments"))[:min(CALL_CHARS, budgets["assistant"])]
        budgets["assistant"] -= len(text) + min(len(name), NAME_CHARS) + MESSAGE_COST
        calls.append(FailureMessage(role="assistant", content=text, tool_name=name[:NAME_CHARS]))
    return calls


def as_text(arguments: object) -> str:
    """A call's arguments as the model wrote them: a JSON string, or (in an older document) the
    parsed object, written back as JSON."""
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, default=str)
