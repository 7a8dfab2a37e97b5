"""Commands the fixes service answers, the views it returns and the events it emits.

`changes` has one schema per fix type (see `CHANGES_BY_TYPE` and docs/fixes.md).
"""

from collections import Counter
from typing import Annotated, Any, ClassVar, Literal

import re2
from pydantic import AfterValidator, ConfigDict, Field, JsonValue, StringConstraints, field_validator, model_validator

from shared.contracts.agent_steps import MAX_TOOLS, ErrorText, Json, ToolDefinition, ToolName, bounded_json
from shared.contracts.common import INT64, ContractModel, ExpectedVersions, Int64, PageRequest, PatchModel, Timestamp
from shared.contracts.issues import Description, IssueId
from shared.contracts.traces import ContextDocument, DocumentId

FIXES_SERVICE = "fixes"

FixType = Literal["prompt_update", "config_change", "retrieval_update", "guardrail", "tool_update"]
FixStatus = Literal["draft", "proposed", "testing", "applied", "rejected"]
FixId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]

_LINE_BREAKS = r"\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_DIFF_LINE = rf"[-+](?: [^{_LINE_BREAKS}]*)?"
_LINE_BREAK = rf"(?:\r\n|[{_LINE_BREAKS}])"
PROMPT_DIFF = rf"^{_DIFF_LINE}(?:{_LINE_BREAK}{_DIFF_LINE})*{_LINE_BREAK}?(?![\s\S])"
"""The lines of a promptDiff as a JSON schema pattern: the line breaks are those of
`str.splitlines`, and the end is a lookahead because `$` would let one more newline through."""


def _given(field: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON schema: `field` is there and not null."""
    return {"required": [field], "properties": {field: schema or {"not": {"type": "null"}}}}


def _absent_or_null(field: str) -> dict[str, Any]:
    return {"properties": {field: {"type": "null"}}}


class ToolStub(ContractModel):
    """What a replay answers a call to a tool that the original run never made: a `result`
    (text, or JSON as a tool would return it) or an `error`, exactly one."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"allOf": [_given("result"), _absent_or_null("error")]},
        {"allOf": [_given("error"), _absent_or_null("result")]},
    ]})

    result: Json = None
    error: ErrorText | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "ToolStub":
        if (self.result is None) == (self.error is None):
            raise ValueError("give exactly one of result or error")
        return self


TOOL_STUBS = ("Answers, by tool name, for tool calls the original run never made (docs/replay.md): without one, "
              "such a call ends the trace's replay as `diverged`.")


def _names_as_property_names(schema: dict[str, Any]) -> None:
    """JSON schema: the tool-name pattern on every key (`propertyNames`), not only on the keys
    that match it (`patternProperties`, as pydantic writes it, lets any other key through)."""
    for variant in schema.get("anyOf", [schema]):
        if patterns := variant.pop("patternProperties", None):
            (pattern, value), = patterns.items()
            variant["additionalProperties"] = value
            variant.setdefault("propertyNames", {})["pattern"] = pattern


class StubsTools(ContractModel):
    """Every type's `changes` may carry `toolStubs`."""

    tool_stubs: dict[ToolName, ToolStub] | None = Field(default=None, max_length=MAX_TOOLS, description=TOOL_STUBS,
                                                        json_schema_extra=_names_as_property_names)


class PromptUpdate(StubsTools):
    """Either a `promptDiff` of `- old line` / `+ new line` lines applied to the system prompt,
    or a whole new `systemPrompt`."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"allOf": [_given("promptDiff"), _absent_or_null("systemPrompt")]},
        {"allOf": [_given("systemPrompt"), _absent_or_null("promptDiff")]},
    ]})

    prompt_diff: Annotated[Text, Field(json_schema_extra={"pattern": PROMPT_DIFF})] | None = None
    system_prompt: Text | None = None

    @field_validator("prompt_diff")
    @classmethod
    def _diff_lines(cls, diff: str | None) -> str | None:
        if diff is None:
            return diff
        lines = diff.splitlines()
        for number, line in enumerate(lines, start=1):
            if not (line.startswith("- ") or line.startswith("+ ") or line in ("-", "+")):
                raise ValueError(f"line {number} must start with '- ' (text to remove) or '+ ' (text to add)")
        return diff

    @model_validator(mode="after")
    def _exactly_one(self) -> "PromptUpdate":
        if (self.prompt_diff is None) == (self.system_prompt is None):
            raise ValueError("give exactly one of promptDiff or systemPrompt")
        return self


class ConfigChange(StubsTools):
    """Model parameters that override the trace's recorded ones during replay."""

    model_config = ConfigDict(json_schema_extra=lambda schema: schema.update(
        anyOf=[_given(field) for field in schema["properties"] if field != "toolStubs"]
    ))

    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=4
    )
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: Int64 | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "ConfigChange":
        if all(getattr(self, name) is None for name in type(self).model_fields if name != "tool_stubs"):
            raise ValueError("give at least one parameter to override (null is not a value)")
        return self


class RetrievalUpdate(StubsTools):
    """Changes to the retrieved context: documents to `add`, ids to `remove`, and documents that
    `replace` the one with the same id."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        _given(field, {"minItems": 1}) for field in ("add", "remove", "replace")
    ]})

    add: list[ContextDocument] = Field(default=[], max_length=100)
    remove: list[DocumentId] = Field(default=[], max_length=100)
    replace: list[ContextDocument] = Field(default=[], max_length=100)

    @model_validator(mode="after")
    def _not_empty(self) -> "RetrievalUpdate":
        if not (self.add or self.remove or self.replace):
            raise ValueError("give at least one document to add, remove or replace")
        return self


PATTERN_MAX_MEMORY = 8 << 20
PATTERN_MAX_PROGRAM_SIZE = 2000


def compiled_pattern(pattern: str, ignore_case: bool = False) -> re2._Regexp:
    """A guardrail's pattern compiled by RE2, which matches in time linear in the text (it
    never backtracks, so no pattern can stall the runner), within `PATTERN_MAX_MEMORY`; only
    whether it matches is asked, so nothing is captured. Raises `ValueError` saying why for a
    pattern RE2 refuses (backreferences, lookaround …) or one that compiles to more than
    `PATTERN_MAX_PROGRAM_SIZE` instructions (the cost of each character matched)."""
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True
    options.case_sensitive = not ignore_case
    options.max_mem = PATTERN_MAX_MEMORY
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else reason
        raise ValueError(f"RE2 cannot compile this pattern ({reason}); guardrail patterns use RE2 syntax, which has "
                         "no backreferences or lookaround (see docs/fixes.md)") from None
    if compiled.programsize > PATTERN_MAX_PROGRAM_SIZE:
        raise ValueError(f"pattern is too complex: RE2 compiles it to {compiled.programsize} instructions, at most "
                         f"{PATTERN_MAX_PROGRAM_SIZE} are allowed (large counted repeats such as .{{250}} cost most)")
    return compiled


class Guardrail(StubsTools):
    """A deterministic rule on the produced answer; when it triggers, `fallback` is answered.

    `block_pattern`: triggers when `pattern` (a regular expression in RE2 syntax) matches the
    answer. `require_pattern`: triggers when it does not. `max_length`: triggers past
    `maxLength` characters.
    """

    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"rule": {"const": "max_length"}}},
        "then": _given("maxLength"),
        "else": _given("pattern"),
    })

    rule: Literal["block_pattern", "require_pattern", "max_length"]
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    ignore_case: bool = False
    max_length: int | None = Field(default=None, ge=1, le=INT64[1])
    fallback: Text

    @model_validator(mode="after")
    def _rule_needs(self) -> "Guardrail":
        if self.rule == "max_length":
            if self.max_length is None:
                raise ValueError("rule max_length needs maxLength")
            return self
        if self.pattern is None:
            raise ValueError(f"rule {self.rule} needs a pattern")
        if self.ignore_case:
            compiled_pattern(self.pattern, ignore_case=True)
        return self

    @field_validator("pattern")
    @classmethod
    def _linear_time(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            compiled_pattern(pattern)
        return pattern


class ToolChange(ContractModel):
    """A new `description` and/or `parameters` (a JSON schema, replacing the old one whole) for the
    tool `name`."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [_given("description"), _given("parameters")]})

    name: ToolName
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    parameters: Annotated[dict[str, JsonValue], AfterValidator(bounded_json)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> "ToolChange":
        if self.description is None and self.parameters is None:
            raise ValueError(f"give a new description or parameters for tool {self.name}")
        return self


def _each_tool_once(update: "ToolUpdate") -> list[str]:
    named = [*(change.name for change in update.update), *(tool.function.name for tool in update.add), *update.remove]
    return sorted(name for name, times in Counter(named).items() if times > 1)


class ToolUpdate(StubsTools):
    """Changes to the tools the model is offered: `update` a tool's description or parameters,
    `add` tools (OpenAI function-tool format), `remove` tools by name; at least one, each tool
    named once. A tool updated or removed that a trace does not offer, or added that it does,
    is a per-trace error."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        _given(field, {"minItems": 1}) for field in ("update", "add", "remove")
    ]})

    update: list[ToolChange] = Field(default=[], max_length=MAX_TOOLS)
    add: list[ToolDefinition] = Field(default=[], max_length=MAX_TOOLS)
    remove: list[ToolName] = Field(default=[], max_length=MAX_TOOLS)

    @model_validator(mode="after")
    def _not_empty(self) -> "ToolUpdate":
        if not (self.update or self.add or self.remove):
            raise ValueError("give at least one tool to update, add or remove")
        if repeated := _each_tool_once(self):
            raise ValueError(f"name each tool once across update, add and remove; repeated: {', '.join(repeated)}")
        return self


CHANGES_BY_TYPE: dict[str, type[ContractModel]] = {
    "prompt_update": PromptUpdate,
    "config_change": ConfigChange,
    "retrieval_update": RetrievalUpdate,
    "guardrail": Guardrail,
    "tool_update": ToolUpdate,
}


class FixesCommand(ContractModel):
    service: ClassVar[str] = FIXES_SERVICE
    message_type: ClassVar[str]


class CreateFix(FixesCommand):
    """`changes` is checked against the schema of `type` by the fixes service."""

    message_type: ClassVar[str] = "fixes.create_fix"

    issue_id: IssueId
    type: FixType
    description: Description
    changes: dict[str, Any]


class FixPatch(PatchModel):
    description: Description | None = None
    changes: dict[str, Any] | None = None
    status: FixStatus | None = None


class GetFix(FixesCommand):
    message_type: ClassVar[str] = "fixes.get_fix"
    fix_id: FixId


class ListFixes(FixesCommand, PageRequest):
    message_type: ClassVar[str] = "fixes.list_fixes"

    issue_id: IssueId | None = None
    status: FixStatus | None = None
    type: FixType | None = None


class UpdateFix(FixesCommand):
    """Applies `patch`; with `expectedVersions`, only if the fix is at one of them."""

    message_type: ClassVar[str] = "fixes.update_fix"
    fix_id: FixId
    patch: FixPatch
    expected_versions: ExpectedVersions = None


class ShadowTestSummary(ContractModel):
    """`recommendation`: a completed test's (`ship`, `reject` or `inconclusive`), else null."""

    id: str
    status: str
    improvement_rate: float | None = None
    recommendation: Literal["ship", "reject", "inconclusive"] | None = None


class FixStatusEntry(ContractModel):
    """A status the fix entered, and when (`enteredAt`)."""

    status: FixStatus
    entered_at: Timestamp


STATUS_HISTORY = ("Each status the fix entered and when, oldest first: its last 50 moves (the first entry is draft "
                  "at its creation, unless more than 50 moves followed)")


class FixView(ContractModel):
    id: str
    issue_id: str | None
    type: FixType
    status: FixStatus
    description: str
    changes: dict[str, Any]
    author: str
    created_at: Timestamp
    updated_at: Timestamp
    status_history: list[FixStatusEntry] = Field([], description=STATUS_HISTORY)


class FixDetail(FixView):
    shadow_tests: list[ShadowTestSummary]


class CreateFixResult(ContractModel):
    """`version` is the fix's version as `fix` shows it, as in every result below (the
    gateway's `ETag`)."""

    fix: FixDetail
    replayed: bool
    version: int


class GetFixResult(ContractModel):
    fix: FixDetail
    version: int


class UpdateFixResult(ContractModel):
    fix: FixView
    version: int


class FixEvent(ContractModel):
    """`version` orders the fix's states; `statusVersion` is the version at which its status
    last changed, at `statusChangedAt`."""

    routing_key: ClassVar[str]
    fix: FixView
    version: int
    status_version: int
    status_changed_at: Timestamp


class FixCreated(FixEvent):
    routing_key: ClassVar[str] = "fix.created"


class FixUpdated(FixEvent):
    """Any change of a fix, its status included (`changedFields` says what changed)."""

    routing_key: ClassVar[str] = "fix.updated"
    changed_fields: list[str]


class FixStatusChanged(FixEvent):
    """Sent besides `fix.updated`, with the same version, when the status moved."""

    routing_key: ClassVar[str] = "fix.status_changed"
    issue_id: str | None
    old_status: FixStatus
    new_status: FixStatus
