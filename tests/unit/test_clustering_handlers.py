"""The clustering service's handlers over in-memory stores and a fake issues service, with the
real in-process model."""

import hashlib
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from structlog.testing import capture_logs

from services.clustering import bootstrap, handlers
from services.clustering.adapters.wordllama_embedder import WordLlamaEmbedder
from shared.contracts.clustering import ClusteringSettingsPatch, GetClusteringSettings, UpdateClusteringSettings
from shared.contracts.envelope import Envelope
from shared.contracts.errors import PreconditionFailed, Unavailable
from shared.contracts.issues import IssueCreated, IssueDeleted, IssueDetail, IssueMetadata, IssueUpdated
from shared.messaging.commands import CommandContext
from tests.support.failure_modes import batch, mode_of, mode_traces
from tests.unit.clustering_fakes import FakeAgentRecords, FakeIssues, FakeManualTraces, FakeSettings, ingested

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def embedder():
    return WordLlamaEmbedder()


@pytest.fixture
def issues():
    return FakeIssues()


@pytest.fixture
def deps(embedder, issues):
    return bootstrap.build(FakeSettings(), FakeAgentRecords(), FakeManualTraces(), issues, embedder)


def envelope(event, message_id="evt-1", workspace="ws") -> Envelope:
    return Envelope(message_id=message_id, type=event.routing_key, workspace=workspace, correlation_id="corr-1",
                    payload=event.to_wire())


async def handle(traces, deps, message_id="evt-1"):
    event = ingested(traces)
    await handlers.on_traces_ingested(event, envelope(event, message_id), deps)


def detail(issue_id, status, agent_id, source="clustering", trace_ids=()) -> IssueDetail:
    return IssueDetail(id=issue_id, title="t", description="d", severity="low", status=status, trace_count=1,
                       agent_id=agent_id, agent_name=None, tags=[], created_at=NOW, updated_at=NOW, source=source,
                       trace_ids=list(trace_ids), fixes=[], metadata=IssueMetadata())


async def test_failing_traces_of_a_few_modes_become_clustering_issues_of_one_mode_each(deps, issues):
    traces = batch(12, "b1")
    await handle(traces, deps)

    created = issues.created()
    assert created and all(issue["source"] == "clustering" for issue in created)
    assert all(0 <= issue["clusterConfidence"] <= 1 for issue in created)
    assert all(len({mode_of(t) for t in issue["traceIds"]}) == 1 for issue in created)
    found = Counter(mode_of(t) for issue in created for t in issue["traceIds"])
    assert set(found) == {mode_of(t["id"]) for t in traces}
    assert all(issue["title"] and issue["severity"] in ("low", "medium", "high", "critical") for issue in created)


async def test_a_redelivered_event_creates_no_second_issue(deps, issues):
    traces = batch(8, "b2")
    await handle(traces, deps, "evt-1")
    first = len(issues.issues)
    sent = len(issues.sent)

    await handle(traces, deps, "evt-1")
    await handle(traces, deps, "evt-2")  # the same traces announced again under another event

    assert first > 0 and len(issues.issues) == first and len(issues.sent) == sent


async def test_an_issues_service_that_does_not_answer_leaves_the_commands_owed_and_sent_once_back(deps, issues):
    traces = batch(8, "b3")
    issues.down = True
    with pytest.raises(Unavailable):
        await handle(traces, deps)
    assert not issues.issues

    issues.down = False
    await handle(traces, deps)  # the event, redelivered
    await handle(traces, deps)
    assert issues.issues
    assert len(issues.sent) == len(issues.issues)


async def test_later_traces_of_a_known_mode_attach_to_its_issue(deps, issues):
    await handle(mode_traces("seatmap_timeout", 12, "first"), deps, "evt-1")
    [issue_id] = list(issues.issues)

    later = mode_traces("seatmap_timeout", 3, "later")
    await handle(later, deps, "evt-2")

    attaches = [body for kind, _, body in issues.sent if kind == "attach"]
    assert attaches == [{"issueId": issue_id, "traceIds": [t["id"] for t in later]}]
    assert len(issues.issues) == 1


async def test_a_closed_issue_gets_its_returning_failure_and_is_reopened(deps, issues):
    await handle(mode_traces("invoice_tool_error", 12, "first"), deps, "evt-1")
    [issue_id] = list(issues.issues)
    closed = IssueUpdated(issue=detail(issue_id, "closed", "billing-agent"), changed_fields=["status"], version=3)
    await handlers.on_issue_changed(closed, envelope(closed, "evt-closed"), deps)
    issues.issues[issue_id]["status"] = "closed"

    await handle(mode_traces("invoice_tool_error", 2, "again"), deps, "evt-2")

    assert issues.issues[issue_id]["status"] == "open"
    assert issues.sent[-1][0] == "attach" and issues.sent[-1][2]["issueId"] == issue_id


async def test_an_attach_the_issues_service_refuses_is_dropped_and_does_not_block_the_agent(deps, issues):
    await handle(mode_traces("seatmap_timeout", 12, "first"), deps, "evt-1")
    issues.refuse_attach = True
    await handle(mode_traces("seatmap_timeout", 2, "later"), deps, "evt-2")
    issues.refuse_attach = False

    await handle(mode_traces("seatmap_timeout", 2, "latest"), deps, "evt-3")
    assert [body["traceIds"] for kind, _, body in issues.sent if kind == "attach"][-1] == [
        "latest_seatmap_timeout_0", "latest_seatmap_timeout_1"]


async def test_clustering_disabled_creates_no_issue(deps, issues):
    ctx = CommandContext("cmd-1", "ws", None, "corr")
    await handlers.update_settings(UpdateClusteringSettings(patch=ClusteringSettingsPatch(enabled=False)), ctx, deps)

    await handle(batch(8, "off"), deps)

    assert not issues.sent


async def test_traces_of_a_manual_issue_are_not_clustered(deps, issues):
    traces = mode_traces("seatmap_timeout", 12, "man")
    manual = detail("iss_manual", "open", "travel-assistant", "manual", [t["id"] for t in traces])
    created = IssueCreated(issue=manual, version=1)
    await handlers.on_issue_created(created, envelope(created, "evt-manual"), deps)

    await handle(traces, deps)

    assert not issues.sent


async def test_traces_added_to_a_manual_issue_later_are_not_clustered_and_free_again_once_it_is_deleted(deps, issues):
    traces = mode_traces("seatmap_timeout", 12, "man")
    first, later = [t["id"] for t in traces[:2]], [t["id"] for t in traces]
    created = IssueCreated(issue=detail("iss_manual", "open", "travel-assistant", "manual", first), version=1)
    await handlers.on_issue_created(created, envelope(created, "evt-1"), deps)
    for version, trace_ids in ((3, later), (2, first)):
        updated = IssueUpdated(issue=detail("iss_manual", "open", "travel-assistant", "manual", trace_ids),
                               version=version, changed_fields=["traceIds"])
        await handlers.on_issue_changed(updated, envelope(updated, f"evt-{version}"), deps)

    await handle(traces, deps)
    assert not issues.sent

    deleted = IssueDeleted(issue_id="iss_manual", issue=detail("iss_manual", "open", "travel-assistant", "manual"),
                           version=4)
    await handlers.on_issue_deleted(deleted, envelope(deleted, "evt-deleted"), deps)
    await handle(mode_traces("seatmap_timeout", 12, "again"), deps, "evt-2")
    assert [kind for kind, *_ in issues.sent] == ["create"]


async def test_settings_change_with_a_precondition(deps):
    ctx = CommandContext("cmd-1", "ws", None, "corr")
    first = await handlers.get_settings(GetClusteringSettings(), ctx, deps)
    assert first.version == 1 and first.settings.min_cluster_size == 4

    patch = UpdateClusteringSettings(patch=ClusteringSettingsPatch(min_cluster_size=6), expected_versions=[1])
    changed = await handlers.update_settings(patch, ctx, deps)
    assert (changed.version, changed.settings.min_cluster_size) == (2, 6)
    assert (await handlers.update_settings(patch, ctx, deps)).version == 2  # redelivered: applied once

    with pytest.raises(PreconditionFailed):
        await handlers.update_settings(patch, CommandContext("cmd-2", "ws", None, "corr"), deps)


class WordHashEmbedder:
    """Another model, of another width: a bag of hashed words (as the demo model's endpoint)."""

    dimension = 64

    def embed(self, texts):
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        return vectors


async def test_after_the_embedding_model_changes_stored_vectors_are_dropped_and_clustering_goes_on(deps, issues):
    await handle(mode_traces("seatmap_timeout", 8, "before") + mode_traces("timezone_wrong", 2, "waiting"), deps)
    (issue_id,) = list(issues.issues)

    with capture_logs() as logs:
        await handle(mode_traces("seatmap_timeout", 4, "after"), replace(deps, embedder=WordHashEmbedder()), "evt-2")

    assert [entry["agent_id"] for entry in logs if entry["event"].startswith("the embedding model changed")] == [
        "travel-assistant"
    ]
    record = await deps.records.get("ws", "travel-assistant")
    assert record.state.model == "WordHashEmbedder::64" and len(record.state.pending) == 2
    widths = {p.vectors.matrix.shape[1] for p in record.state.pending} | {
        i.centroid.sums.shape[1] for i in record.state.issues
    }
    assert widths == {64}
    assert all(f"after_seatmap_timeout_{n}" in issues.issues[issue_id]["traceIds"] for n in range(4))
