"""Commands the issues service answers, the views it returns and the events it emits."""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from shared.contracts.common import ContractModel, PageRequest, Timestamp

Severity = Literal["low", "medium", "high", "critical"]
IssueStatus = Literal["open", "proposed_fix", "testing", "closed"]
SortField = Literal["createdAt", "severity", "traceCount"]
SortOrder = Literal["asc", "desc"]

ISSUES_SERVICE = "issues"

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
AgentId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
AgentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TraceId = Annotated[str, StringConstraints(pattern=r"^[\w.:\-]{1,128}$")]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
IssueId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _distinct[T](values: list[T]) -> list[T]:
    return list(dict.fromkeys(values))


TraceIds = Annotated[list[TraceId], Field(max_length=10_000), AfterValidator(_distinct)]
Tags = Annotated[list[Tag], Field(max_length=50), AfterValidator(_distinct)]


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


class IssuePatch(ContractModel):
    """The fields a PATCH may change; only those present change. `null` is not a value."""

    title: Title | None = None
    description: Description | None = None
    severity: Severity | None = None
    status: IssueStatus | None = None
    tags: Tags | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [key for key, value in data.items() if value is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null; leave a field out to keep it")
        return data

    @model_validator(mode="after")
    def _not_empty(self) -> "IssuePatch":
        if not self.model_fields_set:
            raise ValueError("provide at least one of: title, description, severity, status, tags")
        return self

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        given = {type(self).model_fields[name].alias or name for name in self.model_fields_set} | self.model_fields_set
        return {key: value for key, value in handler(self).items() if key in given}

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class GetIssue(IssuesCommand):
    message_type: ClassVar[str] = "issues.get_issue"
    issue_id: IssueId


class ListIssues(IssuesCommand, PageRequest):
    message_type: ClassVar[str] = "issues.list_issues"

    agent_id: AgentId | None = None
    status: IssueStatus | None = None
    severity: Severity | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    limit: int = Field(default=20, ge=1, le=100)
    sort_by: SortField = "createdAt"
    sort_order: SortOrder = "desc"


class UpdateIssue(IssuesCommand):
    message_type: ClassVar[str] = "issues.update_issue"
    issue_id: IssueId
    patch: IssuePatch


class DeleteIssue(IssuesCommand):
    message_type: ClassVar[str] = "issues.delete_issue"
    issue_id: IssueId


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


class FixSummary(ContractModel):
    id: str
    type: str
    status: str


class IssueMetadata(ContractModel):
    first_seen_at: Timestamp | None = None
    last_seen_at: Timestamp | None = None
    affected_customers: int = 0
    cluster_confidence: float | None = None


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
    routing_key: ClassVar[str] = "issue.updated"
    issue: IssueDetail
    changed_fields: list[str]


class IssueDeleted(IssueEvent):
    routing_key: ClassVar[str] = "issue.deleted"
    issue_id: str


class CreateIssueResult(ContractModel):
    """`replayed` is true when the command was seen before (same Idempotency-Key or a
    redelivery) and `issue` is the response the first one produced."""

    issue: IssueSummary
    replayed: bool


class DeleteIssueResult(ContractModel):
    issue_id: str
