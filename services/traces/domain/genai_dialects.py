"""What one span says about an agent run, in each GenAI dialect seen in the wild.

- `gen_ai`: the OpenTelemetry GenAI semantic conventions (`gen_ai.input.messages`,
  `gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.definitions` with
  structured message parts, as JSON text or structured values; `execute_tool` spans).
- `gen_ai.prompt`: the older flattened `gen_ai.prompt.<n>.*` / `gen_ai.completion.<n>.*`
  attributes of OpenLLMetry, with `llm.request.functions.<n>.*` and `traceloop.*` spans.
- `openinference`: Arize OpenInference (`llm.input_messages.<n>.message.*`, `llm.tools`,
  `input.value` / `output.value`, `openinference.span.kind`).

Readers never trust a value's type: a value of the wrong type is left out and noted in
`problems`. Messages come out in OpenAI chat format, as plain dicts.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.traces.domain.genai_evaluations import is_evaluation_span
from services.traces.domain.otlp import SpanRecord
from shared.contracts.agent_steps import as_text

MODEL_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}
ROLES = {"system": "system", "developer": "developer", "user": "user", "human": "user", "assistant": "assistant",
         "model": "assistant", "ai": "assistant", "tool": "tool", "function": "tool", "ipython": "tool"}
PARAMETERS = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens", "top_k": "top_k",
              "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty", "seed": "seed",
              "stop_sequences": "stop", "choice.count": "n"}
INVOCATION_PARAMETERS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "top_k", "stop", "seed",
                         "presence_penalty", "frequency_penalty", "n", "reasoning_effort", "tool_choice")
CUSTOMER_KEYS = ("user.id", "enduser.id", "traceloop.association.properties.user_id", "session.id",
                 "traceloop.association.properties.session_id")
MAX_INDEX = 10_000


@dataclass
class ModelCall:
    """One model call: the messages sent, the reply (an assistant message), and what it was asked with."""

    messages: list[dict] = field(default_factory=list)
    reply: dict | None = None
    system: str | None = None
    model: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    tools: list[dict] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    dialects: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


@dataclass
class ToolRun:
    name: str | None
    call_id: str | None
    arguments: Any = None
    raw_arguments: str | None = None
    result: Any = None
    error: str | None = None


def kind_of(span: SpanRecord) -> str | None:
    """`agent`, `model`, `tool`, `evaluation` (a span recording an evaluation result, or an
    OpenInference `EVALUATOR`), or None for spans that are none of these."""
    attributes = span.attributes
    operation = _text(attributes, "gen_ai.operation.name")
    openinference = (_text(attributes, "openinference.span.kind") or "").upper()
    traceloop = (_text(attributes, "traceloop.span.kind") or "").lower()
    if operation == "invoke_agent" or openinference == "AGENT" or traceloop == "agent":
        return "agent"
    if operation == "execute_tool" or openinference == "TOOL" or traceloop == "tool":
        return "tool"
    if is_evaluation_span(span):
        return "evaluation"
    if operation in MODEL_OPERATIONS or openinference == "LLM" or _text(attributes, "llm.request.type") == "chat":
        return "model"
    if any(key.startswith(("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.prompt.", "gen_ai.completion.",
                           "llm.input_messages.", "llm.output_messages.")) for key in attributes):
        return "model"
    return None


def model_call(span: SpanRecord) -> ModelCall:
    attributes, call = span.attributes, ModelCall()
    where = f"span {span.span_id} {span.name!r}"
    if "gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes:
        call.dialects.add("gen_ai")
        call.messages = _parts_messages(attributes.get("gen_ai.input.messages"), f"{where} gen_ai.input.messages",
                                        call.problems)
        replies = _parts_messages(attributes.get("gen_ai.output.messages"), f"{where} gen_ai.output.messages",
                                  call.problems)
        call.reply = next((message for message in replies if message["role"] == "assistant"), None)
    elif any(key.startswith(("llm.input_messages.", "llm.output_messages.")) for key in attributes):
        call.dialects.add("openinference")
        call.messages = _openinference_messages(attributes, "llm.input_messages")
        call.reply = next(iter(_openinference_messages(attributes, "llm.output_messages")), None)
    elif any(key.startswith(("gen_ai.prompt.", "gen_ai.completion.")) for key in attributes):
        call.dialects.add("gen_ai.prompt")
        call.messages = _prompt_messages(attributes, "gen_ai.prompt")
        call.reply = next(iter(_prompt_messages(attributes, "gen_ai.completion")), None)
    else:
        call.messages, call.reply = _raw_request(attributes)
        if call.messages or call.reply:
            call.dialects.add("openinference")
    call.system = _system_instructions(attributes.get("gen_ai.system_instructions"), where, call.problems)
    call.model = _text(attributes, "gen_ai.request.model", "llm.model_name", "llm.request.model_name",
                       "gen_ai.response.model", "llm.response.model_name")
    call.parameters = _parameters(attributes, where, call.problems)
    call.tools = _tool_definitions(attributes, where, call.problems)
    usage = {"inputTokens": _integer(attributes, "gen_ai.usage.input_tokens", "llm.token_count.prompt"),
             "outputTokens": _integer(attributes, "gen_ai.usage.output_tokens", "llm.token_count.completion")}
    call.usage = {key: value for key, value in usage.items() if value is not None}
    return call


def agent_io(span: SpanRecord) -> tuple[list[dict], dict | None]:
    """What an agent span records of its own input and answer, as a user message and a reply."""
    call = model_call(span)
    if call.messages or call.reply:
        return call.messages, call.reply
    attributes = span.attributes
    question = _text(attributes, "input.value", "traceloop.entity.input")
    answer = _text(attributes, "output.value", "traceloop.entity.output")
    return ([{"role": "user", "content": question}] if question else []), (
        {"role": "assistant", "content": answer} if answer is not None else None)


def tool_run(span: SpanRecord) -> ToolRun:
    attributes = span.attributes
    run = ToolRun(name=_text(attributes, "gen_ai.tool.name", "tool.name", "traceloop.entity.name"),
                  call_id=_text(attributes, "gen_ai.tool.call.id", "tool_call.id", "tool.id"))
    arguments = _first(attributes, "gen_ai.tool.call.arguments", "tool_arguments", "input.value")
    if arguments is None and (entity := _text(attributes, "traceloop.entity.input")):
        arguments = _entity_arguments(entity)
    if isinstance(arguments, str):
        parsed, value = _loads(arguments)
        run.arguments, run.raw_arguments = (value, None) if parsed else (None, arguments)
    else:
        run.arguments = arguments
    result = _first(attributes, "gen_ai.tool.call.result", "tool_response", "output.value", "traceloop.entity.output")
    if isinstance(result, str):
        parsed, value = _loads(result)
        result = value if parsed and isinstance(value, dict | list) else result
    run.result = result
    if span.failed:
        run.error = _failure(span)
    return run


def agent_identity(span: SpanRecord) -> tuple[str | None, str | None]:
    attributes = span.attributes
    name = _text(attributes, "gen_ai.agent.name", "agent.name")
    if name is None and _text(attributes, "traceloop.span.kind") == "agent":
        name = _text(attributes, "traceloop.entity.name")
    return _text(attributes, "gen_ai.agent.id"), name


def customer_of(span: SpanRecord) -> str | None:
    return _text(span.attributes, *CUSTOMER_KEYS)


def _failure(span: SpanRecord) -> str:
    for event in span.events:
        if event.name == "exception":
            kind, message = _text(event.attributes, "exception.type"), _text(event.attributes, "exception.message")
            if kind or message:
                return ": ".join(part for part in (kind, message) if part)
    return span.status_message or _text(span.attributes, "error.type") or "the tool failed"


def _parts_messages(value: Any, where: str, problems: list[str]) -> list[dict]:
    if value is None:
        return []
    if isinstance(value, str):
        parsed, value = _loads(value)
        if not parsed:
            problems.append(f"{where} is not JSON")
            return []
    if not isinstance(value, list):
        problems.append(f"{where} is not a list of messages")
        return []
    messages: list[dict] = []
    for item in value:
        role = _role(item.get("role")) if isinstance(item, dict) else None
        if role is None:
            problems.append(f"{where}: a message without a known role was left out")
            continue
        parts = item.get("parts")
        if not isinstance(parts, list):
            messages.extend(_openai_message(item, role))
            continue
        messages.extend(_from_parts(role, [part for part in parts if isinstance(part, dict)]))
    return messages


def _from_parts(role: str, parts: list[dict]) -> list[dict]:
    texts = [part["content"] for part in parts if part.get("type") == "text" and isinstance(part.get("content"), str)]
    calls = [_call(part.get("id"), part.get("name"), part.get("arguments"))
             for part in parts if part.get("type") == "tool_call" and isinstance(part.get("name"), str)]
    answers = [{"role": "tool", "tool_call_id": _id(part.get("id")), "content": as_text(_answer(part))}
               for part in parts if part.get("type") == "tool_call_response"]
    text = "\n".join(texts) if texts else None
    if role == "assistant":
        return [_assistant(text, calls)] if text is not None or calls else []
    if role == "tool" and not answers:
        return [{"role": "tool", "tool_call_id": None, "content": text}] if text is not None else []
    return answers + ([{"role": role, "content": text}] if text is not None and role != "tool" else [])


def _answer(part: dict) -> Any:
    answer = part.get("response", part.get("result"))
    return "" if answer is None else answer


def _openai_message(item: dict, role: str) -> list[dict]:
    content = _content_text(item.get("content"))
    calls = [_call(call.get("id"), function.get("name"), function.get("arguments"))
             for call in _dicts(item.get("tool_calls"))
             if isinstance(function := call.get("function"), dict) and isinstance(function.get("name"), str)]
    if role == "assistant":
        return [_assistant(content, calls)] if content is not None or calls else []
    if role == "tool":
        return [{"role": "tool", "tool_call_id": _id(item.get("tool_call_id")), "content": content or ""}]
    return [{"role": role, "content": content}] if content is not None else []


def _content_text(content: Any) -> str | None:
    """A message's content as text: OpenAI content arrays keep their text parts."""
    if isinstance(content, str):
        parsed, value = _loads(content) if content.startswith("[{") else (False, None)
        content = value if parsed else content
    if isinstance(content, list):
        texts = [part.get("text") or part.get("content") for part in _dicts(content) if part.get("type") == "text"]
        texts = [text for text in texts if isinstance(text, str)]
        return "\n".join(texts) if texts else None
    return content if isinstance(content, str) else None


def _openinference_messages(attributes: Mapping[str, Any], prefix: str) -> list[dict]:
    messages = []
    for item in _indexed(attributes, prefix):
        role = _role(item.get("message.role"))
        if role is None:
            continue
        content = item.get("message.content")
        if not isinstance(content, str):
            texts = [part.get("message_content.text") for part in _indexed(item, "message.contents")
                     if part.get("message_content.type") == "text"]
            texts = [text for text in texts if isinstance(text, str)]
            content = "\n".join(texts) if texts else None
        calls = [_call(call.get("tool_call.id"), name, call.get("tool_call.function.arguments"))
                 for call in _indexed(item, "message.tool_calls")
                 if isinstance(name := call.get("tool_call.function.name"), str)]
        if role == "assistant":
            messages.extend([_assistant(content, calls)] if content is not None or calls else [])
        elif role == "tool":
            messages.append({"role": "tool", "tool_call_id": _id(item.get("message.tool_call_id")),
                             "content": content or ""})
        elif content is not None:
            messages.append({"role": role, "content": content})
    return messages


def _prompt_messages(attributes: Mapping[str, Any], prefix: str) -> list[dict]:
    messages = []
    for item in _indexed(attributes, prefix):
        role = _role(item.get("role")) or ("assistant" if prefix == "gen_ai.completion" else None)
        if role is None:
            continue
        calls = [{"id": call.get("id"), "function": {"name": call.get("name"), "arguments": call.get("arguments")}}
                 for call in _indexed(item, "tool_calls")]
        messages.extend(_openai_message({"content": item.get("content"), "tool_calls": calls,
                                         "tool_call_id": item.get("tool_call_id")}, role))
    return messages


def _raw_request(attributes: Mapping[str, Any]) -> tuple[list[dict], dict | None]:
    """OpenInference LLM spans without flattened messages: the provider's request and response
    bodies, when `input.value` / `output.value` hold OpenAI chat JSON."""
    request = _first(attributes, "input.value")
    response = _first(attributes, "output.value")
    messages, reply = [], None
    if isinstance(request, str) and (parsed := _loads(request))[0] and isinstance(parsed[1], dict):
        for item in _dicts(parsed[1].get("messages")):
            if role := _role(item.get("role")):
                messages.extend(_openai_message(item, role))
    if isinstance(response, str) and (parsed := _loads(response))[0] and isinstance(parsed[1], dict):
        choice = next(iter(_dicts(parsed[1].get("choices"))), {})
        if isinstance(message := choice.get("message"), dict):
            reply = next(iter(_openai_message(message, "assistant")), None)
    return messages, reply


def _system_instructions(value: Any, where: str, problems: list[str]) -> str | None:
    if isinstance(value, str):
        parsed, structured = _loads(value)
        if not parsed or not isinstance(structured, list):
            return value
        value = structured
    if isinstance(value, list):
        texts = [part.get("content") for part in _dicts(value) if part.get("type", "text") == "text"]
        texts = [text for text in texts if isinstance(text, str)]
        return "\n".join(texts) if texts else None
    if value is not None:
        problems.append(f"{where} gen_ai.system_instructions is neither text nor a list of parts")
    return None


def _tool_definitions(attributes: Mapping[str, Any], where: str, problems: list[str]) -> list[dict]:
    value = attributes.get("gen_ai.tool.definitions")
    if isinstance(value, str):
        parsed, value = _loads(value)
        if not parsed:
            problems.append(f"{where} gen_ai.tool.definitions is not JSON")
    definitions = _dicts(value)
    for item in _indexed(attributes, "llm.tools"):
        schema = item.get("tool.json_schema")
        parsed, schema = _loads(schema) if isinstance(schema, str) else (False, None)
        if parsed and isinstance(schema, dict):
            definitions.append(schema)
    for item in _indexed(attributes, "llm.request.functions"):
        parameters = item.get("parameters")
        parsed, parameters = _loads(parameters) if isinstance(parameters, str) else (False, None)
        definitions.append({"name": item.get("name"), "description": item.get("description"),
                            "parameters": parameters if parsed else None})
    tools = []
    for definition in definitions:
        function = definition.get("function") if isinstance(definition.get("function"), dict) else definition
        name = function.get("name")
        if definition.get("type", "function") != "function" or not isinstance(name, str):
            problems.append(f"{where}: a tool that is not a named function was left out")
            continue
        description, parameters = function.get("description"), function.get("parameters", function.get("input_schema"))
        tools.append({"type": "function", "function": {
            "name": name, **({"description": description} if isinstance(description, str) else {}),
            **({"parameters": parameters} if isinstance(parameters, dict) else {})}})
    return tools


def _parameters(attributes: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    invocation = _first(attributes, "llm.invocation_parameters")
    if isinstance(invocation, str):
        parsed, invocation = _loads(invocation)
    if isinstance(invocation, dict):
        parameters.update({key: invocation[key] for key in INVOCATION_PARAMETERS if key in invocation})
    for suffix, name in PARAMETERS.items():
        value = attributes.get(f"gen_ai.request.{suffix}")
        if value is None:
            continue
        stops = isinstance(value, list) and all(isinstance(item, str) for item in value)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if stops if name == "stop" else number:
            parameters[name] = value
        else:
            problems.append(f"{where} gen_ai.request.{suffix} has a value of the wrong type: left out")
    return parameters


def _call(call_id: Any, name: Any, arguments: Any) -> dict:
    if arguments is None:
        arguments = "{}"
    elif not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {"id": _id(call_id), "type": "function", "function": {"name": name, "arguments": arguments}}


def _assistant(content: str | None, calls: list[dict]) -> dict:
    return {"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})}


def _role(value: Any) -> str | None:
    return ROLES.get(value.lower()) if isinstance(value, str) else None


def _id(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _entity_arguments(entity: str) -> Any:
    """Traceloop's `traceloop.entity.input` is `{"args": [...], "kwargs": {...}}`: the keyword
    arguments when they are all there is."""
    parsed, value = _loads(entity)
    if not parsed:
        return entity
    if isinstance(value, dict) and not value.get("args") and isinstance(value.get("kwargs"), dict):
        return value["kwargs"]
    return value


def _indexed(attributes: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """`<prefix>.<n>.<rest>` attributes as one dict (`rest` → value) per `n`, in index order."""
    groups: dict[int, dict[str, Any]] = {}
    start = len(prefix) + 1
    for key, value in attributes.items():
        if key.startswith(prefix) and key[len(prefix):len(prefix) + 1] == ".":
            index, _, rest = key[start:].partition(".")
            if index.isdigit() and int(index) < MAX_INDEX and rest:
                groups.setdefault(int(index), {})[rest] = value
    return [groups[index] for index in sorted(groups)]


def _loads(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` is JSON; sizes and depth are checked once the trace is made."""
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _first(attributes: Mapping[str, Any], *keys: str) -> Any:
    return next((attributes[key] for key in keys if attributes.get(key) is not None), None)


def _text(attributes: Mapping[str, Any], *keys: str) -> str | None:
    return next((value for key in keys if isinstance(value := attributes.get(key), str) and value.strip()), None)


def _integer(attributes: Mapping[str, Any], *keys: str) -> int | None:
    return next((value for key in keys if isinstance(value := attributes.get(key), int)
                 and not isinstance(value, bool)), None)
