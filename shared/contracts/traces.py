"""Commands the traces service answers, the views it returns and the events it emits.

A trace records one agent run: what the model was asked (system prompt, chat messages,
retrieved context, model and parameters, the tools it was offered), the tool calls it made
with their results (see `agent_steps`) and what it answered. Traces are immutable.
"""

import base64
from typing import Annotated, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from shared.contracts.agent_steps import (
    MAX_CALLS_PER_MESSAGE,
    MAX_STEPS,
    MAX_TOOLS,
    ToolCall,
    ToolCallId,
    ToolDefinition,
    ToolStep,
    reconcile,
)
from shared.contracts.common import ContractModel, FreeForm, PageRequest, Timestamp, storable, utc_now
from shared.contracts.issues import AgentId, AgentName, TraceId

TRACES_SERVICE = "traces"
MAX_TRACES_PER_BATCH = 500
MAX_TRACES_PER_LOOKUP = 1000
MAX_MESSAGES = 1000

Text = Annotated[str, StringConstraints(max_length=200_000)]
DocumentId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _absent(value: object) -> bool:
    return value is None


_ROLE_RULES = {"allOf": [
    {"if": {"properties": {"role": {"const": "tool"}}},
     "then": {"required": ["tool_call_id"], "properties": {"tool_call_id": {"type": "string"}}},
     "else": {"properties": {"tool_call_id": {"type": "null"}}}},
    {"if": {"properties": {"role": {"not": {"const": "assistant"}}}},
     "then": {"properties": {"tool_calls": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]}}}},
]}


class ChatMessage(ContractModel):
    """A chat message in the OpenAI format, field names included (`tool_calls`, `tool_call_id`):
    an assistant message's tool calls and the id a tool message answers are checked; other
    extra fields are kept as given. Only assistant messages hold tool calls, and only tool
    messages, which need one, a `tool_call_id` (`_ROLE_RULES` says so in the schema)."""

    model_config = ConfigDict(extra="allow", alias_generator=None, json_schema_extra=_ROLE_RULES)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | None = None
    tool_calls: list[ToolCall] | None = Field(default=None, max_length=MAX_CALLS_PER_MESSAGE, exclude_if=_absent)
    tool_call_id: ToolCallId | None = Field(default=None, exclude_if=_absent)

    @model_validator(mode="after")
    def _storable_extras(self) -> "ChatMessage":
        storable(self.model_extra or {})
        return self


class ModelInfo(ContractModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    parameters: FreeForm = {}


class ContextDocument(ContractModel):
    id: DocumentId
    content: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    source: Annotated[str, StringConstraints(max_length=2000)] | None = None


class Feedback(ContractModel):
    score: float | None = None
    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class TraceInput(ContractModel):
    """A trace as sent for ingestion; `id` is generated (`tr_…`) when absent, and `timestamp`
    is the time the trace is stored when absent."""

    id: TraceId | None = None
    agent_id: AgentId
    agent_name: AgentName | None = None
    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    timestamp: Timestamp = Field(default_factory=utc_now)
    model: ModelInfo
    system_prompt: Text | None = None
    input: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    context: list[ContextDocument] = Field(default=[], max_length=200)
    output: Text
    expected_output: Text | None = None
    status: Literal["ok", "error"] = "ok"
    feedback: Feedback | None = None
    metadata: FreeForm = {}
    tools: list[ToolDefinition] = Field(default=[], max_length=MAX_TOOLS)
    steps: list[ToolStep] = Field(default=[], max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _steps_agree_with_input(self) -> Self:
        self.input, self.steps = reconcile(self.input, self.steps, ChatMessage.model_validate, True, MAX_MESSAGES)
        return self


class Trace(TraceInput):
    id: TraceId
    ingested_at: Timestamp

    @model_validator(mode="after")
    def _steps_agree_with_input(self) -> Self:
        """Read leniently: a trace stored before steps existed gets them from its conversation,
        even when that conversation would not pass today's checks."""
        self.input, self.steps = reconcile(self.input, self.steps, ChatMessage.model_validate, False, MAX_MESSAGES)
        return self


class TracesCommand(ContractModel):
    service: ClassVar[str] = TRACES_SERVICE
    message_type: ClassVar[str]


class IngestTraces(TracesCommand):
    message_type: ClassVar[str] = "traces.ingest"
    traces: list[TraceInput] = Field(min_length=1, max_length=MAX_TRACES_PER_BATCH)

    def to_wire(self) -> dict:
        """Only the fields the caller gave: the same body always makes the same command (and
        Idempotency-Key fingerprint), and a trace sent without a `timestamp` gets the time it
        is stored, not the time a gateway read it."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class IngestResult(ContractModel):
    """`created`: ids of the traces stored now; `existing`: ids already stored (left as they
    were: traces are immutable). `replayed` when the same Idempotency-Key was seen before."""

    created: list[str]
    existing: list[str]
    replayed: bool = False


class IngestOtlpExport(TracesCommand):
    """An OTLP/HTTP trace export as the gateway received it (decompressed, its media type
    checked): the traces service decodes it, keeps its spans until their trace is complete and
    ingests each agent run as a trace (docs/otlp.md). Spans sent again are kept once, and a
    trace already stored is left as it is, so the same export delivered twice ingests once."""

    message_type: ClassVar[str] = "traces.ingest_otlp"
    content_type: Literal["application/x-protobuf", "application/json"]
    body: str
    """The body in base64."""

    @classmethod
    def of(cls, content_type: str, body: bytes) -> Self:
        return cls(content_type=content_type, body=base64.b64encode(body).decode("ascii"))

    def raw_body(self) -> bytes:
        return base64.b64decode(self.body)


class OtlpExportResult(ContractModel):
    """OTLP's partial success: how many spans were refused and why (empty when none were);
    `traces` are the ids of the traces this export completed and stored."""

    rejected_spans: int = 0
    error_message: str = ""
    traces: list[str] = []


class GetTrace(TracesCommand):
    message_type: ClassVar[str] = "traces.get"
    trace_id: TraceId


class FindMissingTraces(TracesCommand):
    """For other services: which of these trace ids are not stored (without reading traces)."""

    message_type: ClassVar[str] = "traces.find_missing"
    trace_ids: list[TraceId] = Field(min_length=1, max_length=MAX_TRACES_PER_LOOKUP)


class MissingTraces(ContractModel):
    missing: list[str]


class ListTraces(TracesCommand, PageRequest):
    message_type: ClassVar[str] = "traces.list"

    agent_id: AgentId | None = None
    status: Literal["ok", "error"] | None = None
    from_: Timestamp | None = Field(default=None, alias="from")
    to: Timestamp | None = None


class TraceFact(ContractModel):
    """What other services need to know of a trace without its content."""

    id: str
    agent_id: str
    agent_name: str | None
    customer_id: str | None
    timestamp: Timestamp


class FailureMessage(ContractModel):
    """A user or tool message of a trace, or a tool call the assistant made: `toolName` names
    the tool a tool message answers, or the tool an `assistant` message calls, with the call's
    arguments as its `content` (the assistant's words are not carried: the answer is `output`)."""

    role: Literal["user", "tool", "assistant"]
    content: str
    tool_name: str | None = None


class FailingTrace(ContractModel):
    """What clustering needs of a trace that may have failed: `status: error`, or a feedback
    score below 1 (the highest threshold a workspace can set; the subscriber applies its own).
    The conversation without system prompt and the assistant's words (its tool calls are kept),
    each text cut to a budget (see `services.traces.domain.failures`), so that an event stays
    small."""

    trace_id: str
    status: Literal["ok", "error"]
    messages: list[FailureMessage]
    output: str
    feedback_score: float | None = None
    feedback_comment: str | None = None


class TracesIngested(ContractModel):
    """`traces`: a fact per stored trace; `failing`: the content of those of them that may have
    failed (see `FailingTrace`), for the clustering service, which never reads the traces."""

    routing_key: ClassVar[str] = "traces.ingested"
    traces: list[TraceFact]
    failing: list[FailingTrace] = []
