"""Commands the issues service answers, the views it returns and the events it emits."""

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.contracts.common import (
    ContractModel,
    ExpectedVersions,
    PageRequest,
    PatchModel,
    Timestamp,
    distinct,
    trimmed,
)

Severity = Literal["low", "medium", "high", "critical"]
IssueStatus = Literal["open", "proposed_fix", "testing", "closed"]
SortField = Literal["createdAt", "severity", "traceCount"]
SortOrder = Literal["asc", "desc"]
IssueSource = Literal["manual", "clustering"]

ISSUES_SERVICE = "issues"

Title = trimmed(200)
Description = trimmed(10_000)
AgentId = trimmed(200)
AgentName = trimmed(200)
TraceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,128}$")]
Tag = trimmed(64)
IssueId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


MAX_TRACES_PER_ISSUE = 10_000
TraceIds = Annotated[list[TraceId], Field(max_length=MAX_TRACES_PER_ISSUE), AfterValidator(distinct)]
Tags = Annotated[list[Tag], Field(max_length=50), AfterValidator(distinct)]


class IssuesCommand(ContractModel):
    service: ClassVar[str] = ISSUES_SERVICE
    message_type: ClassVar[str]


SYSTEM_SET_FIELDS = ("source", "clusterConfidence")


class IssueFields(ContractModel):
    title: Title
    description: Description
    agent_id: AgentId
    agent_name: AgentName | None = None
    severity: Severity
    trace_ids: TraceIds = []
    tags: Tags = []


class NewIssue(IssueFields):
    """The public `POST /api/v2/issues` body. An issue created through the API is `manual`:
    `source` and `clusterConfidence` are set by the clustering service only, and refused here."""

    @model_validator(mode="before")
    @classmethod
    def _no_system_fields(cls, data: object) -> object:
        given = [name for name in SYSTEM_SET_FIELDS if isinstance(data, dict) and name in data]
        if given:
            problem = PydanticCustomError("set_by_the_system", "is set by the system: an issue created through the "
                                          "API is manual")
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type=problem, loc=(name,), input=data[name]) for name in given])
        return data


class CreateIssue(IssuesCommand, IssueFields):
    """Creates an issue. Trace ids and tags are kept once each, in the order given. `source`
    and `clusterConfidence` are the clustering service's (the gateway sends `NewIssue`'s
    fields only); they travel only when not their defaults, so a manual command's body (and
    its Idempotency-Key fingerprint) is what it was before they existed."""

    message_type: ClassVar[str] = "issues.create_issue"

    source: IssueSource = "manual"
    cluster_confidence: Annotated[float, Field(ge=0, le=1)] | None = None

    @classmethod
    def of(cls, body: NewIssue) -> "CreateIssue":
        return cls.model_validate(body.model_dump())

    def to_wire(self) -> dict:
        wire = super().to_wire()
        if self.source == "manual":
            del wire["source"]
        if self.cluster_confidence is None:
            del wire["clusterConfidence"]
        return wire


class AttachTraces(IssuesCommand):
    """Adds trace ids to an existing issue of the envelope's workspace, each once (those it
    holds already are skipped). An issue that is `closed` and gets at least one new trace
    reopens: that is a regression (see `IssueRegressed`). NOT_FOUND for an unknown or deleted
    issue; CONFLICT when the issue would hold more than 10,000 traces. Idempotent by message id:
    send it with `shared.messaging.asking.send`, a redelivery changes nothing again."""

    message_type: ClassVar[str] = "issues.attach_traces"
    issue_id: IssueId
    trace_ids: Annotated[list[TraceId], Field(min_length=1, max_length=10_000), AfterValidator(distinct)]


class IssuePatch(PatchModel):
    title: Title | None = None
    description: Description | None = None
    severity: Severity | None = None
    status: IssueStatus | None = None
    tags: Tags | None = None


class GetIssue(IssuesCommand):
    message_type: ClassVar[str] = "issues.get_issue"
    issue_id: IssueId


class ListIssues(IssuesCommand, PageRequest):
    message_type: ClassVar[str] = "issues.list_issues"

    agent_id: AgentId | None = None
    status: IssueStatus | None = None
    severity: Severity | None = None
    source: IssueSource | None = None
    sort_by: SortField = "createdAt"
    sort_order: SortOrder = "desc"


class UpdateIssue(IssuesCommand):
    """Applies `patch`; with `expectedVersions`, only if the issue is at one of them."""

    message_type: ClassVar[str] = "issues.update_issue"
    issue_id: IssueId
    patch: IssuePatch
    expected_versions: ExpectedVersions = None


class DeleteIssue(IssuesCommand):
    """Deletes the issue; with `expectedVersions`, only if it is at one of them."""

    message_type: ClassVar[str] = "issues.delete_issue"
    issue_id: IssueId
    expected_versions: ExpectedVersions = None


class IssueSummary(ContractModel):
    id: str
    title: str
    description: str
    severity: Severity
    status: IssueStatus
    trace_count: int
    agent_id: str
    agent_name: str | None
    tags: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    source: IssueSource = "manual"


class FixSummary(ContractModel):
    id: str
    type: str
    status: str


class IssueMetadata(ContractModel):
    first_seen_at: Timestamp | None = None
    last_seen_at: Timestamp | None = None
    affected_customers: int = 0
    cluster_confidence: float | None = None
    regressed_at: Timestamp | None = None
    regression_count: int = 0


class IssueDetail(IssueSummary):
    trace_ids: list[str]
    fixes: list[FixSummary]
    metadata: IssueMetadata


class IssueEvent(ContractModel):
    """`workspace` repeats the envelope's, so a payload stored or forwarded alone still says
    whose it is. The issues service always sets it; it is null only in an event recorded
    before it was added (the envelope's is the same)."""

    routing_key: ClassVar[str]
    workspace: str | None = None
    version: int


class IssueCreated(IssueEvent):
    routing_key: ClassVar[str] = "issue.created"
    issue: IssueDetail


class IssueUpdated(IssueEvent):
    """The issue as it is after the change, as `GET /api/v2/issues/:id` shows it (trace ids,
    fixes and metadata included)."""

    routing_key: ClassVar[str] = "issue.updated"
    issue: IssueDetail
    changed_fields: list[str]


class IssueDeleted(IssueEvent):
    """`issue` is the issue as it was when deleted (null only in an event recorded before it
    was added)."""

    routing_key: ClassVar[str] = "issue.deleted"
    issue_id: str
    issue: IssueDetail | None = None


class IssueRegressed(IssueEvent):
    """A closed issue matched new failing traces and is open again. `traceIds` are the traces
    that brought it back; `closedByFixId` the applied fix that had closed it (null when it was
    closed by hand)."""

    routing_key: ClassVar[str] = "issue.regressed"
    issue: IssueSummary
    trace_ids: list[str]
    closed_by_fix_id: str | None
    regression_count: int


class CreateIssueResult(ContractModel):
    """`replayed` is true when the command was seen before (same Idempotency-Key or a
    redelivery) and `issue` is the response the first one produced. `version` is the issue's
    version as `issue` shows it, as in every result below (the gateway's `ETag`)."""

    issue: IssueSummary
    replayed: bool
    version: int


class GetIssueResult(ContractModel):
    issue: IssueDetail
    version: int


class UpdateIssueResult(ContractModel):
    issue: IssueSummary
    version: int


class AttachTracesResult(ContractModel):
    """`reopened` is true when the issue was closed and this command reopened it."""

    issue: IssueSummary
    reopened: bool
    version: int


class DeleteIssueResult(ContractModel):
    issue_id: str
