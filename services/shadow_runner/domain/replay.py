"""Applying a fix to a trace's recorded request, and to the answer the model gives.

The request replayed is the trace's: its system prompt (or, without one, its first system
message), its chat messages, its retrieved context and its model parameters. The context
documents are given to the model in a system message after the system prompt:

    <system prompt>

    Context:
    [doc-id] Title: content

A trace whose run called tools is replayed from the start of that run: the recorded calls and
their tool messages (what follows the last user message) are left out, and the model is offered
the trace's tools (with a `tool_update` applied) so that it makes the calls again; they are
answered from the recorded steps (`domain.tool_replay`). A trace that recorded calls but not
the tools' definitions offers the tools it called, by name only.
"""

from dataclasses import dataclass, field
from typing import Any

from shared.contracts.fixes import (
    ConfigChange,
    Guardrail,
    PromptUpdate,
    RetrievalUpdate,
    ToolStub,
    ToolUpdate,
    compiled_pattern,
)
from shared.contracts.traces import ContextDocument, Trace

MODEL_PARAMETERS = ("temperature", "top_p", "max_tokens", "stop", "presence_penalty", "frequency_penalty", "seed")


class ReplayError(Exception):
    """The fix cannot be applied to this trace; the message says why, for the trace's result."""


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    parameters: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)
    """OpenAI function tools offered to the model (none: the request has no `tools`)."""


@dataclass(frozen=True)
class AskedCall:
    """A tool call the model asked for: its id, the tool's name and the arguments as it wrote them."""

    call_id: str
    name: str
    arguments: str


def replay_request(trace: Trace, fix_type: str, changes: dict[str, Any], model_override: str | None) -> ChatRequest:
    """The trace's request with the fix applied (guardrails apply to the answer instead)."""
    system_prompt, messages = _split_system_prompt(trace)
    if trace.steps:
        messages = messages[:_run_start(messages)]
    tools = offered_tools(trace)
    context = list(trace.context)
    model = model_override or trace.model.name
    parameters = {key: value for key, value in trace.model.parameters.items() if key in MODEL_PARAMETERS}
    if fix_type == "prompt_update":
        system_prompt = apply_prompt_update(system_prompt, PromptUpdate.model_validate(changes))
    elif fix_type == "config_change":
        config = ConfigChange.model_validate(changes)
        overrides = config.model_dump(exclude_none=True)
        model = overrides.pop("model", model)
        parameters.update(overrides)
    elif fix_type == "retrieval_update":
        context = apply_retrieval_update(context, RetrievalUpdate.model_validate(changes))
    elif fix_type == "tool_update":
        tools = apply_tool_update(tools, ToolUpdate.model_validate(changes))
    return ChatRequest(model=model, messages=_with_system(system_prompt, context, messages), parameters=parameters,
                       tools=tools)


def offered_tools(trace: Trace) -> list[dict[str, Any]]:
    """The trace's tools in OpenAI's format; for a trace that recorded calls but no tools, the
    tools it called, by name only."""
    if trace.tools:
        return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in trace.tools]
    names = dict.fromkeys(step.name for step in trace.steps)
    return [{"type": "function", "function": {"name": name}} for name in names]


def tool_stubs(changes: dict[str, Any]) -> dict[str, ToolStub]:
    """The fix's `toolStubs`, by tool name (every fix type may have them)."""
    return {name: ToolStub.model_validate(stub) for name, stub in (changes.get("toolStubs") or {}).items()}


def apply_tool_update(tools: list[dict[str, Any]], update: ToolUpdate) -> list[dict[str, Any]]:
    """The tools with the update applied: changed in place, removed, then the added ones at the
    end. A tool changed or removed that the trace does not offer, or added that it does, is a
    `ReplayError` (as a `- ` line missing from a prompt is)."""
    offered = {tool["function"]["name"]: tool for tool in tools}
    names = ", ".join(offered) or "none"
    for name in [change.name for change in update.update] + list(update.remove):
        if name not in offered:
            raise ReplayError(f"the tool_update changes tool {name!r}, which this trace does not offer (it offers: "
                              f"{names})")
    for tool in update.add:
        if tool.function.name in offered:
            raise ReplayError(f"the tool_update adds tool {tool.function.name!r}, which this trace offers already")
    changes = {change.name: change for change in update.update}
    removed = set(update.remove)
    kept = []
    for tool in tools:
        name = tool["function"]["name"]
        if name in removed:
            continue
        function = dict(tool["function"])
        if change := changes.get(name):
            if change.description is not None:
                function["description"] = change.description
            if change.parameters is not None:
                function["parameters"] = change.parameters
        kept.append({**tool, "function": function})
    return kept + [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in update.add]


def _run_start(messages: list[dict[str, Any]]) -> int:
    """Where the run begins: after the last user message (its calls are what the replay makes again)."""
    return max((index + 1 for index, message in enumerate(messages) if message["role"] == "user"), default=0)


def apply_prompt_update(prompt: str | None, update: PromptUpdate) -> str:
    """A whole new prompt, or the prompt with the diff applied hunk by hunk: each run of `- `
    lines must stand, as whole lines, exactly once in the prompt, and is replaced in place by
    the `+ ` lines that follow it; `+ ` lines with no `- ` line before them are added at the end."""
    if update.system_prompt is not None:
        return update.system_prompt
    lines = (prompt or "").splitlines()
    for removed, added in _hunks(update.prompt_diff):
        if not removed:
            lines += added
            continue
        wanted = [line.strip() for line in removed]
        places = [start for start in range(len(lines) - len(removed) + 1)
                  if [line.strip() for line in lines[start:start + len(removed)]] == wanted]
        if not places:
            raise ReplayError(f"the promptDiff removes text that is not in this trace's system prompt: {removed[0]!r}")
        if len(places) > 1:
            raise ReplayError(f"the promptDiff removes text found more than once in the system prompt: {removed[0]!r}")
        lines[places[0]:places[0] + len(removed)] = added
    return "\n".join(lines)


def _hunks(diff: str) -> list[tuple[list[str], list[str]]]:
    hunks: list[tuple[list[str], list[str]]] = []
    for line in diff.splitlines():
        text = line[2:]
        if line.startswith("-"):
            if not hunks or hunks[-1][1]:
                hunks.append(([], []))
            hunks[-1][0].append(text)
        else:
            if not hunks:
                hunks.append(([], []))
            hunks[-1][1].append(text)
    return hunks


def apply_retrieval_update(context: list[ContextDocument], update: RetrievalUpdate) -> list[ContextDocument]:
    replacements = {document.id: document for document in update.replace}
    removed = set(update.remove)
    kept = [replacements.get(document.id, document) for document in context if document.id not in removed]
    known = {document.id for document in kept}
    return kept + [document for document in update.add if document.id not in known]


def apply_guardrail(answer: str, rule: Guardrail) -> tuple[str, bool]:
    """The answer after the rule, and whether the rule triggered."""
    triggered = violates(answer, rule)
    return (rule.fallback if triggered else answer), triggered


def violates(answer: str, rule: Guardrail) -> bool:
    """Whether the answer breaks the rule; a pattern is matched by RE2, in time linear in the
    answer's length whatever the pattern."""
    if rule.rule == "max_length":
        return len(answer) > rule.max_length
    found = compiled_pattern(rule.pattern, rule.ignore_case).search(answer) is not None
    return found if rule.rule == "block_pattern" else not found


def user_input(trace: Trace) -> str:
    """The conversation the agent answered, as text (for the judge)."""
    return "\n".join(f"{message.role}: {message.content}" for message in trace.input if message.content)


def customer_messages(trace: Trace) -> str:
    """What the customer said (the user messages), for automated scoring: it is not news in an answer."""
    return "\n".join(message.content for message in trace.input if message.role == "user" and message.content)


def _split_system_prompt(trace: Trace) -> tuple[str | None, list[dict[str, Any]]]:
    """The system prompt, and the other messages (a copy of the system prompt among the
    messages, as OpenAI-format logs have it, is dropped: the prompt is sent once)."""
    messages = [message.model_dump(exclude_none=True) for message in trace.input]
    if trace.system_prompt is not None:
        prompt = trace.system_prompt.strip()
        return trace.system_prompt, [
            m for m in messages if not (m["role"] == "system" and (m.get("content") or "").strip() == prompt)
        ]
    for index, message in enumerate(messages):
        if message["role"] == "system":
            return message.get("content"), messages[:index] + messages[index + 1:]
    return None, messages


def _with_system(prompt: str | None, context: list[ContextDocument], messages: list[dict]) -> list[dict]:
    parts = [prompt] if prompt else []
    if context:
        documents = "\n".join(
            f"[{document.id}] " + (f"{document.title}: " if document.title else "") + document.content
            for document in context
        )
        parts.append(f"Context:\n{documents}")
    return ([{"role": "system", "content": "\n\n".join(parts)}] if parts else []) + messages
