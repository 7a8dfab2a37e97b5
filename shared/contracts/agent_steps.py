"""Tool use in a trace: the tools an agent could call, the calls it made and what each got back.

A trace says it twice, in two shapes. Its `input` is the conversation in OpenAI chat format,
where an assistant message's `tool_calls` are each answered by a `tool` message; its `steps`
list the calls the run made, in order, with parsed arguments, result, error and times. The
run is what follows the last `user` message: tool calls before it are earlier turns of the
conversation, kept in `input` only. Either shape is enough on ingestion; `reconcile` derives
the other, so a trace always has both and they agree.
"""

import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Protocol, Self

from pydantic import AfterValidator, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from shared.contracts.common import ContractModel, Timestamp, storable

MAX_TOOLS = 128
MAX_STEPS = 500
MAX_CALLS_PER_MESSAGE = 128
MAX_JSON_DEPTH = 32
MAX_TEXT = 200_000

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
ToolName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
ToolCallId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
StepText = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
ErrorText = Annotated[str, StringConstraints(max_length=10_000)]


def bounded_json(value: Any, limit: int = MAX_JSON_DEPTH) -> Any:
    """`value` if its objects and arrays nest at most `limit` deep, its texts (keys too) hold at
    most MAX_TEXT characters, and the store can keep it."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str) and len(item) > MAX_TEXT:
            raise ValueError(f"texts in JSON values hold at most {MAX_TEXT} characters")
        children = [*item, *item.values()] if isinstance(item, dict) else item if isinstance(item, list) else ()
        if children and depth > limit:
            raise ValueError(f"JSON values nest at most {limit} levels deep")
        pending.extend((child, depth + 1) for child in children)
    return storable(value)


Json = Annotated[JsonValue, AfterValidator(bounded_json)]
"""Any JSON value, nested at most MAX_JSON_DEPTH deep, with integers that fit 64 bits."""


def parse_json(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` is JSON within the limits, else (False, None)."""
    try:
        return True, bounded_json(json.loads(text))
    except (ValueError, RecursionError):
        return False, None


def as_text(value: Any) -> str:
    """A result as the model is given it: a string as it is, anything else as its JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class FunctionDefinition(ContractModel):
    name: ToolName
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    parameters: Annotated[dict[str, JsonValue], AfterValidator(bounded_json)] | None = None
    strict: bool | None = None


class ToolDefinition(ContractModel):
    """A tool the model was offered, in OpenAI's function-tool format. The flat form
    (`{"name", "description", "parameters"}`, as OpenTelemetry and the Responses API write
    it) is accepted too, and kept in the nested one."""

    type: Literal["function"] = "function"
    function: FunctionDefinition

    @model_validator(mode="before")
    @classmethod
    def _nested(cls, value: Any) -> Any:
        if isinstance(value, dict) and "function" not in value and "name" in value:
            flat = {key: item for key, item in value.items() if key != "type"}
            return {"type": value.get("type", "function"), "function": flat}
        return value


class FunctionCall(ContractModel):
    name: ToolName
    arguments: StepText

    @model_validator(mode="before")
    @classmethod
    def _arguments_as_text(cls, value: Any) -> Any:
        """Arguments are the JSON text the model wrote; an object given instead is kept as its text."""
        if isinstance(value, dict) and isinstance(value.get("arguments"), dict | list):
            return {**value, "arguments": json.dumps(value["arguments"], ensure_ascii=False)}
        return value


class ToolCall(ContractModel):
    """A call in an assistant message's `tool_calls`, as OpenAI writes it; other fields are kept as given."""

    model_config = ConfigDict(extra="allow")

    id: ToolCallId
    type: Literal["function"] = "function"
    function: FunctionCall

    @model_validator(mode="after")
    def _storable_extras(self) -> Self:
        bounded_json(self.model_extra or {})
        return self


class ToolStep(ContractModel):
    """One tool call of the run. `arguments` is the parsed JSON the model wrote (`null` when not
    recorded); `rawArguments` keeps the text when it was not JSON. `result` is what the agent
    gave the model back: text, or JSON as the tool returned it. `status` is `error` when the tool
    failed (`error` saying how). `turn` numbers the model's replies that asked for tools, from 0:
    calls with the same turn were asked for together (parallel calls)."""

    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"not": {"required": ["arguments", "rawArguments"],
                 "properties": {"arguments": {"not": {"type": "null"}}, "rawArguments": {"type": "string"}}}},
        {"if": {"required": ["error", "status"], "properties": {"error": {"type": "string"}}},
         "then": {"properties": {"status": {"const": "error"}}}},
    ]})

    call_id: ToolCallId | None = None
    name: ToolName
    arguments: Json = None
    raw_arguments: StepText | None = None
    result: Json = None
    status: Literal["ok", "error"] = "ok"
    error: ErrorText | None = None
    turn: int | None = Field(default=None, ge=0, le=MAX_STEPS)
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.raw_arguments is not None:
            if self.arguments is not None:
                raise ValueError("give arguments or rawArguments (text that is not JSON), not both")
            parsed, value = parse_json(self.raw_arguments)
            if parsed:
                self.arguments, self.raw_arguments = value, None
        if self.error is not None:
            if self.status == "ok" and "status" in self.model_fields_set:
                raise ValueError("error is only for a step whose status is error")
            self.status = "error"
        if self.started_at and self.ended_at and self.ended_at < self.started_at:
            raise ValueError("endedAt is before startedAt")
        return self

    def arguments_text(self) -> str:
        if self.raw_arguments is not None:
            return self.raw_arguments
        return "{}" if self.arguments is None else json.dumps(self.arguments, ensure_ascii=False)

    def agrees_with(self, call: ToolCall) -> bool:
        if self.raw_arguments is not None:
            return self.raw_arguments == call.function.arguments
        if self.arguments is None:
            return True
        parsed, value = parse_json(call.function.arguments)
        return parsed and value == self.arguments


class Message(Protocol):
    role: str
    content: str | None
    tool_calls: list[ToolCall] | None
    tool_call_id: str | None


def reconcile[M: Message](
    messages: list[M], steps: list[ToolStep], new_message: Callable[[dict], M], strict: bool, max_messages: int
) -> tuple[list[M], list[ToolStep]]:
    """The conversation and the run's steps, each completed from the other.

    Steps only: their calls and results are appended to the conversation (calls with the same
    `turn` in one assistant message). Conversation only: the steps are read from the run's tool
    calls and the tool messages that answer them. Both: they must name the same calls, in the
    same order, with the same tools and arguments; what a step lacks (its result, its turn) is
    taken from the conversation. `strict` (on ingestion) also refuses a message that breaks its
    role's rules (`_check_conversation`); stored traces are read leniently."""
    if strict:
        _check_conversation(messages)
    run = messages[_run_start(messages):]
    calls = sum(len(message.tool_calls or ()) for message in run if message.role == "assistant")
    if strict and calls > MAX_STEPS:
        raise ValueError(f"input: the run makes {calls} tool calls, more than the {MAX_STEPS} a trace keeps")
    read = _steps_in(run)[:MAX_STEPS]
    if not read:
        if not steps:
            return messages, steps
        steps = _with_ids(steps, {call.id for message in messages for call in message.tool_calls or ()})
        derived = [new_message(message) for message in _messages_for(steps)]
        if len(messages) + len(derived) > max_messages:
            raise ValueError(f"input with the steps' messages would hold more than {max_messages} messages")
        return messages + derived, steps
    if not steps:
        return messages, [step for step, _ in read]
    return messages, _merged(steps, read)


def _run_start(messages: Sequence[Message]) -> int:
    last_user = max((index for index, message in enumerate(messages) if message.role == "user"), default=-1)
    return last_user + 1


def _check_conversation(messages: Sequence[Message]) -> None:
    """Each message's own rules. A conversation as recorded may still answer a call twice, or
    one it does not show (a truncated log): it is kept as sent, and its steps are read from the
    first call of each id and the first answer to it."""
    for index, message in enumerate(messages):
        if message.tool_calls and message.role != "assistant":
            raise ValueError(f"input.{index}: only assistant messages have tool_calls")
        if message.tool_call_id is not None and message.role != "tool":
            raise ValueError(f"input.{index}: only tool messages have a tool_call_id")
        if message.role == "tool" and message.tool_call_id is None:
            raise ValueError(f"input.{index}: a tool message needs the tool_call_id it answers")


def _steps_in(messages: Sequence[Message]) -> list[tuple[ToolStep, ToolCall]]:
    read: dict[str, tuple[ToolStep, ToolCall]] = {}
    turn = 0
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            for call in message.tool_calls:
                if call.id not in read and len(read) < MAX_STEPS:
                    parsed, value = parse_json(call.function.arguments)
                    step = ToolStep(call_id=call.id, name=call.function.name, turn=turn, arguments=value,
                                    raw_arguments=None if parsed else call.function.arguments)
                    read[call.id] = step, call
            turn += 1
        elif message.role == "tool" and message.tool_call_id in read:
            step, _ = read[message.tool_call_id]
            if step.result is None:
                step.result = message.content
    return list(read.values())


def _with_ids(steps: list[ToolStep], taken: set[str]) -> list[ToolStep]:
    """Steps with a call id each (`call_<n>` for those without) and turns numbered from 0."""
    named, used, turn, previous = [], set(taken), -1, object()
    for index, step in enumerate(steps):
        call_id = step.call_id
        if call_id is None:
            call_id, suffix = f"call_{index + 1}", 1
            while call_id in used:
                call_id, suffix = f"call_{index + 1}_{suffix}", suffix + 1
        if call_id in used:
            raise ValueError(f"steps.{index}.callId: {call_id} is used twice (in the steps or the conversation)")
        used.add(call_id)
        if step.turn is None or step.turn != previous:
            turn += 1
        previous = step.turn
        named.append(step.model_copy(update={"call_id": call_id, "turn": turn}))
    if any(later.turn is not None and earlier.turn is not None and later.turn < earlier.turn
           for earlier, later in zip(steps, steps[1:], strict=False)):
        raise ValueError("steps: turn never decreases from one step to the next")
    return named


def _messages_for(steps: list[ToolStep]) -> list[dict]:
    messages: list[dict] = []
    for turn in dict.fromkeys(step.turn for step in steps):
        together = [step for step in steps if step.turn == turn]
        calls = [{"id": step.call_id, "type": "function",
                  "function": {"name": step.name, "arguments": step.arguments_text()}} for step in together]
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        for step in together:
            answer = as_text(step.result) if step.result is not None else step.error
            if answer is not None:
                messages.append({"role": "tool", "tool_call_id": step.call_id, "content": answer})
    return messages


def _merged(steps: list[ToolStep], read: list[tuple[ToolStep, ToolCall]]) -> list[ToolStep]:
    if len(steps) != len(read):
        raise ValueError(f"steps: {len(steps)} steps, but the conversation's run has {len(read)} tool calls")
    merged = []
    for index, (step, (recorded, call)) in enumerate(zip(steps, read, strict=True)):
        where = f"steps.{index}"
        if step.call_id is not None and step.call_id != call.id:
            raise ValueError(f"{where}.callId: {step.call_id}, but the conversation's call {index + 1} is {call.id}")
        if step.name != call.function.name:
            raise ValueError(f"{where}.name: {step.name}, but the conversation calls {call.function.name} ({call.id})")
        if not step.agrees_with(call):
            raise ValueError(f"{where}.arguments differ from call {call.id}'s in the conversation")
        if step.turn is not None and step.turn != recorded.turn:
            raise ValueError(f"{where}.turn: {step.turn}, but the conversation asks for call {call.id} in turn "
                             f"{recorded.turn}")
        update: dict[str, Any] = {"call_id": call.id, "turn": recorded.turn}
        if step.result is None and step.error is None:
            update["result"] = recorded.result
        elif step.result is not None and recorded.result is not None and not _same_result(step.result, recorded):
            raise ValueError(f"{where}.result differs from the tool message answering {call.id}")
        merged.append(step.model_copy(update=update))
    return merged


def _same_result(result: Any, recorded: ToolStep) -> bool:
    if result == recorded.result:
        return True
    parsed, value = parse_json(recorded.result) if isinstance(recorded.result, str) else (False, None)
    return parsed and value == result
