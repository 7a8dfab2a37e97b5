from datetime import UTC, datetime, timedelta

import pytest

from services.issues.domain.model import FixState, Issue, status_from_fixes
from shared.contracts.issues import CreateIssue, IssuePatch

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)


def new_issue(**fields) -> Issue:
    command = CreateIssue(**{"title": "t", "description": "d", "agent_id": "a", "severity": "medium", **fields})
    return Issue.open("iss_1", "ws", command, NOW)


def test_a_new_issue_is_open_counts_distinct_traces_and_records_its_creation():
    issue = new_issue(trace_ids=["tr_1", "tr_2", "tr_1"], tags=["x", "x", "y"])
    assert issue.status == "open"
    assert issue.trace_count == 2
    assert issue.tags == ["x", "y"]
    assert [event.routing_key for event in issue.events] == ["issue.created"]
    assert issue.events[0].version == 1
    assert issue.events[0].issue.trace_ids == ["tr_1", "tr_2"]


def test_a_patch_changes_only_its_fields_and_moves_updated_at_and_version():
    issue = new_issue()
    later = NOW + timedelta(minutes=5)
    issue.apply(IssuePatch(severity="critical", status="testing"), later, "cmd-1")
    assert (issue.severity, issue.status, issue.title) == ("critical", "testing", "t")
    assert issue.updated_at == later and issue.created_at == NOW
    assert issue.version == 2
    assert issue.has_applied("cmd-1")
    updated = issue.events[-1]
    assert updated.routing_key == "issue.updated"
    assert updated.changed_fields == ["severity", "status"]
    assert updated.version == 2


def test_updated_at_never_goes_back_when_clocks_disagree():
    issue = new_issue()
    issue.apply(IssuePatch(title="new"), NOW - timedelta(seconds=3), "cmd-1")
    assert issue.updated_at == NOW


def test_deleting_records_the_event_and_a_purge_date():
    issue = new_issue()
    issue.delete(NOW, "cmd-9")
    assert issue.events[-1].routing_key == "issue.deleted"
    assert issue.events[-1].version == 2
    assert issue.purge_after > NOW


def test_a_patch_that_changes_nothing_leaves_the_issue_as_it_is():
    issue = new_issue(tags=["x"])
    issue.apply(IssuePatch(title="t", severity="medium", tags=["x"]), NOW + timedelta(minutes=5), "cmd-1")
    assert (issue.version, issue.updated_at, issue.manual_status_at) == (1, NOW, None)
    assert [event.routing_key for event in issue.events] == ["issue.created"]


def test_severity_rank_orders_low_to_critical():
    ranks = [new_issue(severity=s).severity_rank for s in ("low", "medium", "high", "critical")]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


def fix(status: str, version: int, fix_id: str = "fix_1", status_version: int | None = None) -> FixState:
    """News of a fix at `version`, its status set at `status_version` (default: this version),
    `status_version` minutes after NOW."""
    moved = version if status_version is None else status_version
    return FixState(fix_id, "prompt_update", status, version, moved, NOW + timedelta(minutes=moved))


@pytest.mark.parametrize("statuses, expected", [
    ([], "open"),
    (["draft"], "open"),
    (["rejected"], "open"),
    (["proposed"], "proposed_fix"),
    (["proposed", "testing"], "testing"),
    (["testing", "applied", "proposed"], "closed"),
    (["rejected", "draft", "proposed"], "proposed_fix"),
])
def test_status_derived_from_fixes(statuses, expected):
    assert status_from_fixes([fix(s, 1, f"fix_{n}") for n, s in enumerate(statuses)]) == expected


def test_fix_news_moves_the_issue_and_records_one_update():
    issue = new_issue()
    issue.events.clear()
    issue.record_fix(fix("draft", 1), NOW, "e1")
    assert issue.status == "open" and [f.status for f in issue.fixes] == ["draft"]
    assert issue.events[-1].changed_fields == ["fixes"]
    issue.record_fix(fix("proposed", 2), NOW, "e2")
    assert issue.status == "proposed_fix"
    assert issue.events[-1].changed_fields == ["fixes", "status"]
    assert len(issue.fixes) == 1


def test_stale_and_repeated_news_change_nothing():
    issue = new_issue()
    issue.record_fix(fix("testing", 3), NOW, "e3")
    issue.events.clear()
    issue.record_fix(fix("proposed", 2), NOW, "e2")
    issue.record_fix(fix("testing", 3), NOW, "e3-copy")
    assert issue.events == []
    assert issue.status == "testing" and issue.fixes == [fix("testing", 3)]


def test_a_manual_status_stands_until_the_next_fix_status_change():
    issue = new_issue()
    issue.record_fix(fix("proposed", 2), NOW, "e2")
    issue.apply(IssuePatch(status="closed"), NOW + timedelta(minutes=2, seconds=30), "manual")
    issue.record_fix(fix("proposed", 3, status_version=2), NOW, "e3")
    assert issue.status == "closed"
    issue.record_fix(fix("testing", 4), NOW, "e4")
    assert issue.status == "testing"


def test_a_fix_status_change_older_than_a_manual_status_does_not_override_it():
    issue = new_issue()
    issue.apply(IssuePatch(status="closed"), NOW + timedelta(minutes=10), "manual")
    issue.record_fix(fix("proposed", 2), NOW, "late-news-of-an-earlier-change")
    assert issue.status == "closed"


def test_status_moves_seen_out_of_order_are_judged_by_status_version():
    issue = new_issue()
    issue.record_fix(fix("proposed", 2), NOW, "e2")
    issue.apply(IssuePatch(status="closed"), NOW + timedelta(minutes=2, seconds=30), "manual")
    issue.record_fix(fix("proposed", 4), NOW, "e4: back to proposed, arriving before e3")
    issue.record_fix(fix("testing", 3), NOW, "e3: stale now")
    assert issue.status == "proposed_fix"


def test_the_first_news_of_a_fix_past_draft_moves_the_issue():
    issue = new_issue()
    issue.record_fix(fix("testing", 4), NOW, "e4")
    assert issue.status == "testing"
