"""The issue store against a real MongoDB wire server."""

from datetime import UTC, datetime, timedelta

import pytest

from services.issues.domain.model import FixState, Issue, TraceKnowledge
from shared.contracts.envelope import Envelope
from shared.contracts.issues import CreateIssue, IssueMetadata, IssuePatch, ListIssues
from shared.store.creation import AlreadyCreated, Creation, IdTaken
from shared.store.documents import ConcurrentUpdate

T0 = datetime(2025, 8, 1, tzinfo=UTC)


def issue(issue_id: str, minutes: int = 0, workspace: str = "ws", **fields) -> Issue:
    command = CreateIssue(**{"title": issue_id, "description": "d", "agent_id": "a", "severity": "low", **fields})
    return Issue.open(issue_id, workspace, command, T0 + timedelta(minutes=minutes))


def event(name: str) -> Envelope:
    return Envelope(message_id=name, type="issue.created", workspace="ws", correlation_id="c", payload={},
                    time=T0)


async def add(repository, item: Issue, command_id: str | None = None, outbox=()):
    await repository.add(item, Creation(command_id or f"cmd-{item.id}", "fp", {"id": item.id}), list(outbox))


async def test_an_issue_round_trips(issue_repository):
    original = issue("iss_1", trace_ids=["tr_1", "tr_2"], tags=["a"], agent_name="Bot")
    await add(issue_repository, original)
    loaded = await issue_repository.get("ws", "iss_1")
    assert loaded.detail() == original.detail()
    assert loaded.created_at.tzinfo is not None
    assert await issue_repository.get("other", "iss_1") is None


async def test_a_taken_id_and_a_seen_command_are_told_apart(issue_repository):
    await add(issue_repository, issue("iss_1"), command_id="cmd-a")
    with pytest.raises(IdTaken):
        await add(issue_repository, issue("iss_1"), command_id="cmd-b")
    with pytest.raises(AlreadyCreated) as seen:
        await add(issue_repository, issue("iss_2"), command_id="cmd-a")
    assert seen.value.creation.response == {"id": "iss_1"}


async def test_a_save_based_on_a_stale_read_is_refused(issue_repository):
    await add(issue_repository, issue("iss_1"))
    first = await issue_repository.get("ws", "iss_1")
    second = await issue_repository.get("ws", "iss_1")
    first.apply(IssuePatch(title="first"), T0, "c1")
    await issue_repository.save(first, [])
    second.apply(IssuePatch(title="second"), T0, "c2")
    with pytest.raises(ConcurrentUpdate):
        await issue_repository.save(second, [])
    assert (await issue_repository.get("ws", "iss_1")).title == "first"


async def test_deleted_issues_are_invisible(issue_repository):
    await add(issue_repository, issue("iss_1"))
    loaded = await issue_repository.get("ws", "iss_1")
    loaded.delete(T0, "c1")
    await issue_repository.save(loaded, [])
    assert await issue_repository.get("ws", "iss_1") is None
    assert await issue_repository.find_page("ws", ListIssues()) == ([], 0)


async def test_pages_filter_and_sort_with_a_stable_tiebreak(issue_repository):
    severities = ["low", "critical", "high", "critical", "medium"]
    for n, severity in enumerate(severities):
        await add(issue_repository, issue(f"iss_{n}", minutes=0, severity=severity))
    items, total = await issue_repository.find_page("ws", ListIssues(sort_by="severity", limit=2, page=1))
    assert total == 5
    assert [i.id for i in items] == ["iss_3", "iss_1"]
    items, _ = await issue_repository.find_page("ws", ListIssues(sort_by="severity", limit=2, page=2))
    assert [i.severity for i in items] == ["high", "medium"]
    items, total = await issue_repository.find_page("ws", ListIssues(severity="critical"))
    assert total == 2 and {i.id for i in items} == {"iss_1", "iss_3"}


async def test_the_outbox_is_leased_to_one_relay_and_keeps_events_until_released(issue_repository):
    await add(issue_repository, issue("iss_1"), outbox=[event("e1")])
    loaded = await issue_repository.get("ws", "iss_1")
    loaded.apply(IssuePatch(title="x"), T0, "c1")
    await issue_repository.save(loaded, [event("e2")])
    assert await issue_repository.aggregates_with_pending_outbox(T0 + timedelta(seconds=1), 10) == ["iss_1"]
    assert await issue_repository.aggregates_with_pending_outbox(T0, 10) == []

    lease = datetime.now(UTC) + timedelta(seconds=30)
    claimed = await issue_repository.claim_outbox("iss_1", "relay-a", lease)
    assert [e.message_id for e in claimed] == ["e1", "e2"]
    assert await issue_repository.claim_outbox("iss_1", "relay-b", lease) is None

    assert await issue_repository.release_outbox("iss_1", "relay-a", ["e1"]) is True
    claimed = await issue_repository.claim_outbox("iss_1", "relay-b", lease)
    assert [e.message_id for e in claimed] == ["e2"]
    assert await issue_repository.release_outbox("iss_1", "relay-b", ["e2"]) is False
    assert await issue_repository.claim_outbox("iss_1", "relay-a", lease) is None


async def test_an_expired_lease_can_be_taken_over(issue_repository):
    await add(issue_repository, issue("iss_1"), outbox=[event("e1")])
    await issue_repository.claim_outbox("iss_1", "crashed-relay", datetime.now(UTC) - timedelta(seconds=1))
    claimed = await issue_repository.claim_outbox("iss_1", "relay-b", datetime.now(UTC) + timedelta(seconds=30))
    assert [e.message_id for e in claimed] == ["e1"]


async def test_sources_filter_and_an_issue_stored_before_sources_existed_reads_as_manual(issue_repository):
    await add(issue_repository, issue("iss_clustered", source="clustering", cluster_confidence=0.75))
    await add(issue_repository, issue("iss_manual", minutes=1))
    await add(issue_repository, issue("iss_old", minutes=2))
    await issue_repository._collection.update_one({"_id": "iss_old"}, {"$unset": {"source": ""}})
    assert (await issue_repository.get("ws", "iss_old")).detail().source == "manual"
    clustered = await issue_repository.get("ws", "iss_clustered")
    assert (clustered.source, clustered.metadata.cluster_confidence) == ("clustering", 0.75)
    for source, expected in (("clustering", ["iss_clustered"]), ("manual", ["iss_old", "iss_manual"])):
        found, total = await issue_repository.find_page("ws", ListIssues(source=source))
        assert ([each.id for each in found], total) == (expected, len(expected))


async def test_a_regression_round_trips(issue_repository):
    original = issue("iss_1", trace_ids=["tr_1"])
    original.record_fix(FixState("fix_1", "config_change", "applied", 3, 3, T0), T0, "e-applied")
    await add(issue_repository, original)
    await issue_repository._collection.update_one({"_id": "iss_1"}, {"$unset": {"closedByFixId": ""}})
    stored = await issue_repository.get("ws", "iss_1")
    assert stored.closed_by_fix_id == "fix_1"  # stored before it was kept: its applied fix closed it
    stored.attach(["tr_2"], TraceKnowledge(IssueMetadata(), None), T0 + timedelta(hours=1), "cmd-attach")
    await issue_repository.save(stored, [])
    loaded = await issue_repository.get("ws", "iss_1")
    assert loaded.detail() == stored.detail()
    assert (loaded.regressions, loaded.regressed_fixes) == (stored.regressions, [("fix_1", 3)])
    assert loaded.regression_by("cmd-attach").closed_by_fix_id == "fix_1"
