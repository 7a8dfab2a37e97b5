"""An agent run's spans as one of our traces (the table is in docs/otlp.md).

The conversation is the last model call's messages (earlier calls' replies and tool results
are in them, as chat APIs are sent the whole history; a call sent only its new messages
continues the one before). Its reply is the answer; the run's tool spans give each tool call
of the conversation its times, error and (when no tool message has it) result, matched by
call id, else by tool name in order. Without tool calls in the conversation (message content
not captured), the tool spans alone are the steps.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from services.traces.domain.genai_dialects import (
    CUSTOMER_KEYS,
    ModelCall,
    ToolRun,
    agent_identity,
    agent_io,
    kind_of,
    model_call,
    tool_run,
)
from services.traces.domain.genai_evaluations import Evaluation, evaluations, feedback, listed
from services.traces.domain.otlp import SpanRecord
from services.traces.domain.otlp_runs import Run
from shared.contracts.agent_steps import ToolDefinition, parse_json
from shared.contracts.traces import TraceInput

MAX_NOTES = 20
CONTAINERS = ("tool", "evaluation")
CAPTURE_CONTENT = ("no message content was recorded: turn content capture on (GenAI conventions: "
                   "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true; "
                   "OpenLLMetry: TRACELOOP_TRACE_CONTENT=true; "
                   "OpenInference: leave OPENINFERENCE_HIDE_INPUTS and OPENINFERENCE_HIDE_OUTPUTS unset)")


@dataclass
class MappedRun:
    trace_id: str
    trace: TraceInput | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


def map_run(run: Run) -> MappedRun:
    """The run as a trace, or the problem that keeps it from being one."""
    mapped = MappedRun(trace_id=run.trace_id)
    models, tool_spans = _agents_own(run, "model"), _agents_own(run, "tool")
    all_calls = [model_call(span) for span in models]
    calls = [call for call in all_calls if call.messages or call.reply]
    root_call = model_call(run.root)
    for call in (*all_calls, root_call):
        mapped.notes.extend(call.problems)
    found = evaluations(_agents_own(run), run.root, mapped.notes)
    mapped.notes.extend(f"span {span.span_id} {span.name!r}: the sender dropped {span.dropped_attributes} attributes "
                        "(raise OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT)" for span in run.spans if span.dropped_attributes)
    conversation, reply = _conversation(calls)
    if not conversation and kind_of(run.root) == "agent":
        conversation, root_reply = agent_io(run.root)
        reply = reply or root_reply
    if not conversation:
        why = "; ".join(mapped.notes[:3]) or (CAPTURE_CONTENT if models else "no model call in this run")
        mapped.problem = f"run {run.trace_id}: no messages to make a trace of: {why}"
        return mapped
    system = next((call.system for call in reversed(calls) if call.system), None) or root_call.system
    conversation, system = _without_system_copy(conversation, system)
    if reply is not None and reply.get("tool_calls"):
        conversation.append(reply)
    conversation = _answered(conversation, mapped.notes)
    last = next((call for call in reversed(all_calls) if call.model), root_call)
    agent_id, agent_name = _agent(run)
    body = {
        "id": run.trace_id,
        "agent_id": agent_id,
        "agent_name": agent_name,
        "customer_id": _customer(run),
        "timestamp": _time(run.root.start_ns),
        "model": {"name": last.model or "unknown", "parameters": last.parameters},
        "system_prompt": system,
        "input": conversation,
        "output": (reply or {}).get("content") or "",
        "status": "error" if run.root.failed or (models and models[-1].failed) else "ok",
        "tools": _tools([*all_calls, root_call], mapped.notes),
        "steps": _steps(conversation, tool_spans, models, mapped.notes),
        "feedback": feedback(found),
        "metadata": {"otel": _otel_metadata(run, calls, found, mapped.notes)},
    }
    try:
        mapped.trace = TraceInput.model_validate(body)
    except (ValidationError, ValueError) as error:
        mapped.problem = f"run {run.trace_id}: {_reasons(error)}"
    return mapped


def _agents_own(run: Run, kind: str | None = None) -> list[SpanRecord]:
    """The run's spans (of this kind) that the agent made itself: not those inside a tool (a
    tool calling a model, or another tool, does so for the tool) or an evaluation (the
    evaluator's model calls)."""
    by_id = {span.span_id: span for span in run.spans}
    own = []
    for span in run.spans:
        if kind is not None and kind_of(span) != kind:
            continue
        parent = by_id.get(span.parent_span_id)
        while parent is not None and parent is not run.root and kind_of(parent) not in CONTAINERS:
            parent = by_id.get(parent.parent_span_id)
        if parent is None or kind_of(parent) not in CONTAINERS or parent is run.root:
            own.append(span)
    return own


def _conversation(calls: list[ModelCall]) -> tuple[list[dict], dict | None]:
    conversation: list[dict] = []
    for index, call in enumerate(calls):
        sent = call.messages
        if sent and (not conversation or sent[0]["role"] in ("system", "developer", "user")):
            conversation = list(sent)
        else:
            conversation += sent[1:] if sent and conversation and sent[0] == conversation[-1] else sent
        if index < len(calls) - 1 and call.reply:
            conversation.append(call.reply)
    return conversation, calls[-1].reply if calls else None


def _without_system_copy(conversation: list[dict], system: str | None) -> tuple[list[dict], str | None]:
    """The system prompt, and the conversation without a system message repeating it."""
    if system is None:
        system = next((message["content"] for message in conversation if message["role"] == "system"), None)
    kept = [message for message in conversation
            if not (message["role"] == "system" and (message.get("content") or "").strip() == (system or "").strip())]
    return (kept or conversation), system


def _answered(conversation: list[dict], notes: list[str]) -> list[dict]:
    """Every call with an id of its own, and every tool message naming the call it answers: a
    call without an id gets one, a reused id is made unique, a tool message without an id
    answers the oldest call not answered yet, and one answering no call is left out."""
    cleaned, taken, waiting, counter = [], set(), [], 0
    for message in conversation:
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                counter += 1
                original, call_id = call["id"], call["id"] or f"call_{counter}"
                while call_id in taken:
                    call_id = f"{original or 'call'}_{counter}"
                    counter += 1
                taken.add(call_id)
                waiting.append((original, call_id))
                calls.append({**call, "id": call_id})
            cleaned.append({**message, "tool_calls": calls})
        elif message["role"] == "tool":
            named = message.get("tool_call_id")
            match = next((pair for pair in waiting if named is None or pair[0] == named or pair[1] == named), None)
            if match is None:
                notes.append(f"a tool message answering {named or 'no call'} was left out: no call asked for it")
                continue
            waiting.remove(match)
            cleaned.append({**message, "tool_call_id": match[1]})
        else:
            cleaned.append(message)
    return cleaned


def _steps(conversation: list[dict], tool_spans: list[SpanRecord], models: list[SpanRecord],
           notes: list[str]) -> list[dict]:
    last_user = max((index for index, message in enumerate(conversation) if message["role"] == "user"), default=-1)
    run_part = conversation[last_user + 1:]
    calls = [call for message in run_part for call in message.get("tool_calls") or ()]
    answers = {message["tool_call_id"]: message.get("content") for message in run_part if message["role"] == "tool"}
    runs = [(span, tool_run(span)) for span in tool_spans]
    if not calls:
        steps, seen = [], set()
        for span, ran in runs:
            if ran.name:
                steps.append(_step_of_span(span, ran, models, seen))
        return steps
    matched = _match(calls, runs)
    if unmatched := len(runs) - len(matched):
        notes.append(f"{unmatched} tool span(s) matched no tool call of the conversation and were left out")
    steps = []
    for call in calls:
        parsed, arguments = parse_json(call["function"]["arguments"])
        step: dict[str, Any] = {"call_id": call["id"], "name": call["function"]["name"],
                                "arguments": arguments if parsed else None,
                                "raw_arguments": None if parsed else call["function"]["arguments"]}
        span, ran = matched.get(call["id"], (None, None))
        if call["id"] in answers:
            step["result"] = answers[call["id"]]
        elif ran is not None:
            step["result"] = ran.result
        if span is not None:
            step.update(_span_facts(span, ran))
        steps.append(step)
    return steps


def _match(calls: list[dict], runs: list[tuple[SpanRecord, ToolRun]]) -> dict[str, tuple[SpanRecord, ToolRun]]:
    matched: dict[str, tuple[SpanRecord, ToolRun]] = {}
    free = list(runs)
    for call in calls:
        found = next((pair for pair in free if pair[1].call_id == call["id"]), None)
        if found:
            matched[call["id"]] = found
            free.remove(found)
    for call in calls:
        if call["id"] not in matched:
            found = next((pair for pair in free if pair[1].name == call["function"]["name"]), None)
            if found:
                matched[call["id"]] = found
                free.remove(found)
    return matched


def _step_of_span(span: SpanRecord, ran: ToolRun, models: list[SpanRecord], seen: set[str]) -> dict:
    asked_after = sum(model.end_ns <= span.start_ns for model in models)
    call_id = ran.call_id if ran.call_id not in seen else None
    seen.add(call_id)
    return {"call_id": call_id, "name": ran.name, "arguments": ran.arguments, "raw_arguments": ran.raw_arguments,
            "result": ran.result, "turn": asked_after, **_span_facts(span, ran)}


def _span_facts(span: SpanRecord, ran: ToolRun) -> dict:
    facts: dict[str, Any] = {"started_at": _time(span.start_ns), "ended_at": _time(span.end_ns)}
    if ran.error is not None:
        facts.update(status="error", error=ran.error[:10_000])
    return facts


def _tools(calls: list[ModelCall], notes: list[str]) -> list[dict]:
    tools: dict[str, dict] = {}
    for call in calls:
        for tool in call.tools:
            try:
                tools.setdefault(tool["function"]["name"], ToolDefinition.model_validate(tool).model_dump())
            except ValidationError as error:
                notes.append(f"tool definition {tool['function']['name'][:100]!r} left out: {_reasons(error)}")
    return list(tools.values())[:128]


def _agent(run: Run) -> tuple[str, str | None]:
    found_id, found_name = None, None
    for span in (run.root, *run.spans, *run.ancestors):
        agent_id, name = agent_identity(span)
        found_id, found_name = found_id or agent_id, found_name or name
    service = run.root.resource.get("service.name")
    service = service if isinstance(service, str) and service.strip() else None
    name = found_name or service
    return (found_id or name or "unknown_agent")[:200], name[:200] if name else None


def _customer(run: Run) -> str | None:
    places = [span.attributes for span in (run.root, *run.ancestors, *run.spans)] + [run.root.resource]
    for key in CUSTOMER_KEYS:
        for attributes in places:
            if isinstance(value := attributes.get(key), str) and value.strip():
                return value[:200]
    return None


def _otel_metadata(run: Run, calls: list[ModelCall], found: list[Evaluation], notes: list[str]) -> dict:
    usage: dict[str, int] = {}
    for call in calls:
        for key, value in call.usage.items():
            usage[key] = usage.get(key, 0) + value
    service = run.root.resource.get("service.name")
    facts = {"traceId": run.root.trace_id, "spanId": run.root.span_id,
             "service": service[:200] if isinstance(service, str) else None,
             "sessionId": _attribute(run, "session.id"), "conversationId": _attribute(run, "gen_ai.conversation.id"),
             "dialects": sorted({dialect for call in calls for dialect in call.dialects}),
             "usage": usage, "evaluations": listed(found), "notes": [note[:300] for note in notes[:MAX_NOTES]]}
    return {key: value for key, value in facts.items() if value not in (None, [], {})}


def _attribute(run: Run, key: str) -> str | None:
    return next((value[:200] for span in (run.root, *run.ancestors, *run.spans)
                 if isinstance(value := span.attributes.get(key), str) and value), None)


def _time(nanoseconds: int) -> datetime:
    return datetime.fromtimestamp(nanoseconds // 1_000_000 / 1000, UTC)


def _reasons(error: Exception) -> str:
    if not isinstance(error, ValidationError):
        return str(error)[:300]
    reasons = []
    for item in error.errors(include_url=False)[:5]:
        where = ".".join(map(str, item["loc"]))[:100] or "trace"
        reasons.append(f"{where}: {item['msg'].removeprefix('Value error, ')[:300]}")
    return "; ".join(reasons)
