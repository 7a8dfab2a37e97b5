"""A `traces.ingested` event as clustering sees it, and a proposed issue as the issues
service's `CreateIssue`."""

from services.clustering.domain.clustering import ProposedIssue
from services.clustering.domain.model import ClusteringSettings, Message, Trace
from shared.contracts.clustering import ClusteringSettingsView
from shared.contracts.issues import CreateIssue
from shared.contracts.traces import TracesIngested


def failing_traces(event: TracesIngested) -> list[Trace]:
    """The traces the event carries the content of (it may have failed), in its order."""
    facts = {fact.id: fact for fact in event.traces}
    return [
        Trace(
            id=failing.trace_id,
            agent_id=facts[failing.trace_id].agent_id,
            customer_id=facts[failing.trace_id].customer_id,
            timestamp=facts[failing.trace_id].timestamp,
            messages=tuple(Message(m.role, m.content, m.tool_name) for m in failing.messages),
            output=failing.output,
            status=failing.status,
            feedback_score=failing.feedback_score,
            feedback_comment=failing.feedback_comment,
        )
        for failing in event.failing
        if failing.trace_id in facts
    ]


def agent_names(event: TracesIngested) -> dict[str, str]:
    return {fact.agent_id: fact.agent_name for fact in event.traces if fact.agent_name}


def domain_settings(view: ClusteringSettingsView) -> ClusteringSettings:
    return ClusteringSettings(
        enabled=view.enabled,
        similarity_threshold=view.similarity_threshold,
        cluster_similarity=min(ClusteringSettings.cluster_similarity, view.similarity_threshold),
        min_cluster_size=view.min_cluster_size,
        feedback_threshold=view.feedback_threshold,
        max_pending=max(ClusteringSettings.max_pending, view.min_cluster_size),
    )


def create_issue(proposed: ProposedIssue, agent_name: str | None) -> CreateIssue:
    return CreateIssue(
        title=proposed.title[:200].strip() or "Failing traces",
        description=proposed.description[:10_000].strip() or proposed.title[:200],
        agent_id=proposed.agent_id,
        agent_name=agent_name,
        severity=proposed.severity,
        trace_ids=proposed.trace_ids,
        tags=[tag for tag in dict.fromkeys(t.strip()[:64] for t in proposed.tags) if tag],
        source="clustering",
        cluster_confidence=proposed.cluster_confidence,
    )
