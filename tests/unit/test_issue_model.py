from datetime import UTC, datetime, timedelta

import pytest

from services.issues.domain.model import FixState, Issue, TraceKnowledge, status_from_fixes
from shared.contracts.errors import Conflict
from shared.contracts.issues import CreateIssue, IssueMetadata, IssuePatch

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


def known(first: int = 0, last: int = 0, customers: int = 0) -> TraceKnowledge:
    return TraceKnowledge(IssueMetadata(first_seen_at=NOW + timedelta(hours=first),
                                        last_seen_at=NOW + timedelta(hours=last), affected_customers=customers), None)


def closed_by_fix(fix_id: str = "fix_1") -> Issue:
    issue = new_issue(trace_ids=["tr_1"])
    issue.record_fix(fix("applied", 3, fix_id), NOW, "e-applied")
    assert (issue.status, issue.closed_by_fix_id) == ("closed", fix_id)
    issue.events.clear()
    return issue


def test_an_issue_is_manual_unless_the_clustering_service_made_it_and_keeps_its_confidence():
    assert new_issue().summary().source == "manual"
    clustered = new_issue(source="clustering", cluster_confidence=0.82)
    assert (clustered.detail().source, clustered.detail().metadata.cluster_confidence) == ("clustering", 0.82)
    clustered.learn_from_traces(known(customers=3), NOW, "e-traces")
    assert (clustered.metadata.cluster_confidence, clustered.metadata.affected_customers) == (0.82, 3)


def test_attaching_adds_only_new_traces_and_takes_in_what_they_tell():
    issue = new_issue(trace_ids=["tr_1"], source="clustering", cluster_confidence=0.7)
    issue.events.clear()
    reopened = issue.attach(["tr_1", "tr_2", "tr_3"], known(first=1, last=5, customers=2), NOW, "cmd-attach")
    assert reopened is False
    assert (issue.trace_ids, issue.trace_count, issue.status) == (["tr_1", "tr_2", "tr_3"], 3, "open")
    assert (issue.metadata.last_seen_at, issue.metadata.affected_customers) == (NOW + timedelta(hours=5), 2)
    assert issue.metadata.cluster_confidence == 0.7
    [updated] = issue.events
    assert (updated.routing_key, updated.workspace, updated.changed_fields) == (
        "issue.updated", "ws", ["metadata", "traceCount", "traceIds"])
    assert (updated.issue.trace_ids, updated.issue.source) == (["tr_1", "tr_2", "tr_3"], "clustering")


def test_attaching_only_traces_it_holds_changes_nothing():
    issue = closed_by_fix()
    assert issue.attach(["tr_1"], known(), NOW, "cmd-attach") is False
    assert (issue.status, issue.version, issue.events) == ("closed", 2, [])


def test_attaching_past_ten_thousand_traces_is_a_conflict():
    issue = new_issue(trace_ids=[f"tr_{n}" for n in range(9_999)])
    with pytest.raises(Conflict, match="limit of 10000"):
        issue.attach(["tr_new_1", "tr_new_2"], known(), NOW, "cmd-attach")
    assert issue.trace_count == 9_999
    issue.attach(["tr_9998", "tr_new_1"], known(), NOW, "cmd-attach")
    assert issue.trace_count == 10_000


def test_a_closed_issue_given_a_new_trace_regresses_naming_the_fix_that_closed_it():
    issue = closed_by_fix("fix_7")
    later = NOW + timedelta(hours=1)
    assert issue.attach(["tr_2"], known(), later, "cmd-attach") is True
    assert issue.status == "open"
    assert (issue.metadata.regressed_at, issue.metadata.regression_count) == (later, 1)
    updated, regressed = issue.events
    assert "status" in updated.changed_fields and updated.issue.status == "open"
    assert regressed.routing_key == "issue.regressed"
    assert (regressed.workspace, regressed.issue.status, regressed.trace_ids) == ("ws", "open", ["tr_2"])
    assert (regressed.closed_by_fix_id, regressed.regression_count, regressed.version) == ("fix_7", 1, issue.version)
    assert issue.regression_by("cmd-attach") is not None


def test_an_issue_closed_by_hand_regresses_without_a_fix():
    issue = new_issue()
    issue.record_fix(fix("applied", 3), NOW, "e-applied")
    issue.apply(IssuePatch(status="open"), NOW + timedelta(minutes=5), "reopen")
    issue.apply(IssuePatch(status="closed"), NOW + timedelta(minutes=6), "close")
    issue.events.clear()
    issue.attach(["tr_2"], known(), NOW + timedelta(minutes=7), "cmd-attach")
    assert issue.events[-1].closed_by_fix_id is None


def test_each_regression_counts():
    issue = closed_by_fix()
    issue.attach(["tr_2"], known(), NOW + timedelta(hours=1), "a1")
    issue.apply(IssuePatch(status="closed"), NOW + timedelta(hours=2), "close")
    issue.attach(["tr_3"], known(), NOW + timedelta(hours=3), "a2")
    assert (issue.metadata.regression_count, issue.metadata.regressed_at) == (2, NOW + timedelta(hours=3))


def test_news_of_the_fix_applied_before_the_regression_does_not_close_the_issue_again():
    issue = closed_by_fix()
    issue.attach(["tr_2"], known(), NOW + timedelta(hours=1), "cmd-attach")
    issue.record_fix(fix("applied", 3), NOW, "e-applied")  # redelivered
    issue.record_fix(fix("applied", 4, status_version=3), NOW, "e-reworded")  # a later snapshot, same status move
    assert issue.status == "open"


def test_late_news_of_a_fix_applied_before_the_regression_does_not_close_the_issue():
    issue = new_issue()
    issue.apply(IssuePatch(status="closed"), NOW, "close")
    issue.attach(["tr_2"], known(), NOW + timedelta(hours=1), "cmd-attach")
    issue.record_fix(fix("applied", 5, "fix_late"), NOW, "e-late")  # applied at NOW + 5 min
    assert issue.status == "open"
    issue.record_fix(fix("proposed", 2, "fix_new", status_version=90), NOW, "e-new")
    assert issue.status == "proposed_fix"


def test_after_a_regression_the_old_fix_closes_it_no_more_but_a_new_one_does():
    issue = closed_by_fix("fix_1")
    issue.attach(["tr_2"], known(), NOW + timedelta(minutes=30), "cmd-attach")
    issue.record_fix(fix("proposed", 40, "fix_2"), NOW, "e-proposed")
    assert issue.status == "proposed_fix"
    issue.record_fix(fix("applied", 50, "fix_2"), NOW, "e-applied-2")
    assert (issue.status, issue.closed_by_fix_id) == ("closed", "fix_2")
    issue.attach(["tr_3"], known(), NOW + timedelta(hours=2), "cmd-attach-2")
    assert issue.events[-1].closed_by_fix_id == "fix_2"


def test_deleting_records_the_issue_as_it_was():
    issue = new_issue(source="clustering", trace_ids=["tr_1"])
    issue.delete(NOW, "cmd-9")
    deleted = issue.events[-1]
    assert (deleted.workspace, deleted.issue_id, deleted.issue.source, deleted.issue.trace_ids) == (
        "ws", "iss_1", "clustering", ["tr_1"])


def test_a_fix_applied_after_a_manual_close_is_the_one_named_when_the_issue_regresses():
    issue = new_issue()
    issue.apply(IssuePatch(status="closed"), NOW, "close")
    issue.record_fix(fix("applied", 3), NOW, "e-applied")  # applied at NOW + 3 min
    assert (issue.status, issue.closed_by_fix_id) == ("closed", "fix_1")
    issue.attach(["tr_2"], known(), NOW + timedelta(hours=1), "cmd-attach")
    assert issue.events[-1].closed_by_fix_id == "fix_1"


def under_test_with_a_trace_attached() -> Issue:
    """An issue whose fix is being tested when a failing trace (tr_2) is attached to it."""
    issue = new_issue(trace_ids=["tr_1"])
    issue.record_fix(fix("testing", 2), NOW, "e-testing")
    issue.attach(["tr_2"], known(), NOW + timedelta(minutes=3), "cmd-attach")
    issue.events.clear()
    return issue


def test_news_of_a_fix_applied_before_a_trace_the_issue_holds_regresses_it_instead_of_closing_it():
    issue = under_test_with_a_trace_attached()
    applied = fix("applied", 5)
    assert issue.applied_at_if_closing(applied, "e-applied") == NOW + timedelta(minutes=5)
    later = NOW + timedelta(minutes=6)
    issue.record_fix(applied, later, "e-applied", seen_after=["tr_2", "tr_not_held"])
    assert (issue.status, issue.closed_by_fix_id) == ("open", None)
    assert (issue.metadata.regressed_at, issue.metadata.regression_count) == (later, 1)
    assert issue.regressed_fixes == [("fix_1", 5)]
    updated, regressed = issue.events
    assert (updated.changed_fields, updated.issue.status) == (["fixes", "metadata", "status"], "open")
    assert (regressed.routing_key, regressed.closed_by_fix_id, regressed.trace_ids) == (
        "issue.regressed", "fix_1", ["tr_2"])
    assert (regressed.regression_count, regressed.version) == (1, issue.version)


def test_redelivered_news_of_the_fix_that_did_not_hold_does_not_regress_the_issue_again():
    issue = under_test_with_a_trace_attached()
    issue.record_fix(fix("applied", 5), NOW + timedelta(minutes=6), "e-applied", seen_after=["tr_2"])
    version = issue.version
    assert issue.applied_at_if_closing(fix("applied", 5), "e-applied-again") is None
    issue.record_fix(fix("applied", 5), NOW + timedelta(minutes=7), "e-applied-again", seen_after=["tr_2"])
    issue.record_fix(fix("applied", 6, status_version=5), NOW + timedelta(minutes=8), "e-reworded")
    assert (issue.status, issue.metadata.regression_count) == ("open", 1)
    assert [event.routing_key for event in issue.events].count("issue.regressed") == 1
    assert issue.version == version + 1, "the reworded fix is taken in, and only that"


def test_news_of_an_applied_fix_closes_the_issue_when_its_traces_were_all_seen_before():
    issue = under_test_with_a_trace_attached()
    issue.record_fix(fix("applied", 5), NOW + timedelta(minutes=6), "e-applied", seen_after=[])
    assert (issue.status, issue.closed_by_fix_id, issue.metadata.regression_count) == ("closed", "fix_1", 0)
    assert [event.routing_key for event in issue.events] == ["issue.updated"]


def test_only_news_that_would_close_the_issue_asks_for_the_traces_seen_after():
    issue = under_test_with_a_trace_attached()
    assert issue.applied_at_if_closing(fix("proposed", 4), "e-proposed") is None
    assert issue.applied_at_if_closing(fix("testing", 2), "e-testing") is None, "already known"
    regressed = closed_by_fix("fix_old")
    regressed.attach(["tr_2"], known(), NOW + timedelta(hours=1), "cmd-attach")
    assert regressed.applied_at_if_closing(fix("applied", 3, "fix_old"), "e-late-copy") is None


def test_after_a_fix_that_did_not_hold_a_new_fix_applied_later_closes_the_issue():
    issue = under_test_with_a_trace_attached()
    issue.record_fix(fix("applied", 5), NOW + timedelta(minutes=6), "e-applied", seen_after=["tr_2"])
    issue.record_fix(fix("applied", 20, "fix_2"), NOW + timedelta(minutes=21), "e-applied-2", seen_after=[])
    assert (issue.status, issue.closed_by_fix_id) == ("closed", "fix_2")


def test_late_news_of_a_fix_applied_before_the_regression_stays_out_even_with_traces_seen_after_it():
    issue = new_issue()
    issue.apply(IssuePatch(status="closed"), NOW, "close")
    issue.attach(["tr_2"], known(), NOW + timedelta(hours=1), "cmd-attach")
    late = fix("applied", 5, "fix_late")  # applied at NOW + 5 min, before the regression
    assert issue.applied_at_if_closing(late, "e-late") is None
    issue.record_fix(late, NOW + timedelta(hours=2), "e-late", seen_after=["tr_2"])
    assert (issue.status, issue.metadata.regression_count) == ("open", 1)


def test_facts_heard_after_the_fix_closed_the_issue_of_a_trace_seen_after_it_regress_the_issue():
    issue = closed_by_fix("fix_7")  # applied at NOW + 3 min
    assert issue.applied_at_if_contradicted(known(last=0)) is None
    assert issue.applied_at_if_contradicted(known(last=1)) == NOW + timedelta(minutes=3)
    later = NOW + timedelta(hours=2)
    issue.learn_from_traces(known(last=1, customers=1), later, "e-traces", seen_after=["tr_1"])
    assert (issue.status, issue.metadata.regression_count, issue.metadata.regressed_at) == ("open", 1, later)
    assert issue.metadata.affected_customers == 1
    updated, regressed = issue.events
    assert updated.changed_fields == ["metadata", "status"]
    assert (regressed.closed_by_fix_id, regressed.trace_ids, regressed.regression_count) == ("fix_7", ["tr_1"], 1)
    issue.learn_from_traces(known(last=1, customers=1), later, "e-traces", seen_after=["tr_1"])
    assert (issue.metadata.regression_count, len(issue.events)) == (1, 2)


def test_facts_of_traces_seen_after_a_fix_leave_an_issue_closed_by_hand_closed():
    issue = closed_by_fix()
    issue.apply(IssuePatch(status="open"), NOW + timedelta(minutes=5), "reopen")
    issue.apply(IssuePatch(status="closed"), NOW + timedelta(minutes=6), "close")
    assert issue.applied_at_if_contradicted(known(last=1)) is None
    issue.learn_from_traces(known(last=1), NOW + timedelta(hours=2), "e-traces", seen_after=["tr_1"])
    assert (issue.status, issue.metadata.regression_count) == ("closed", 0)
