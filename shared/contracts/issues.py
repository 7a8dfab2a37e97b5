"""Commands the issues service answers, the views it returns and the events it emits."""

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints

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


TraceIds = Annotated[list[TraceId], Field(max_length=10_000), AfterValidator(distinct)]
Tags = Annotated[list[Tag], Field(max_length=50), AfterValidator(distinct)]


class IssuesCommand(ContractModel):
    service: ClassVar[str] = ISSUES_SERVICE
    message_type: ClassVar[str]


class CreateIssue(IssuesCommand):
    """Creates an issue. Trace ids and tags are kept once each, in the order given."""

    message_type: ClassVar[str] = "issues.create_issue"

    title: Title
    description: Description
    agent_id: AgentId
    agent_name: AgentName | None = None
    severity: Severity
    trace_ids: TraceIds = []
    tags: Tags = []
    source: IssueSource = "manual"
    cluster_confidence: Annotated[float, Field(ge=0, le=1)] | None = None


class AttachTraces(IssuesCommand):
    """Adds trace ids to an existing issue, each once (those it holds already are skipped). An
    issue that is `closed` reopens: that is a regression (see `IssueRegressed`)."""

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
    routing_key: ClassVar[str]
    version: int


class IssueCreated(IssueEvent):
    routing_key: ClassVar[str] = "issue.created"
    issue: IssueDetail


class IssueUpdated(IssueEvent):
    """The issue as it is after the change (without its trace ids, which do not change)."""

    routing_key: ClassVar[str] = "issue.updated"
    issue: IssueSummary
    changed_fields: list[str]


class IssueDeleted(IssueEvent):
    routing_key: ClassVar[str] = "issue.deleted"
    issue_id: str


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
