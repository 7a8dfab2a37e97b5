from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from services.fixes.domain.model import STATUS_HISTORY_KEPT, TRANSITIONS, Fix, ShadowTestState, checked_changes
from shared.contracts.errors import Conflict, InvalidRequest
from shared.contracts.fixes import CreateFix, FixPatch

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)
STATUSES = ["draft", "proposed", "testing", "applied", "rejected"]
ALLOWED = {
    ("draft", "proposed"), ("draft", "rejected"),
    ("proposed", "testing"), ("proposed", "rejected"),
    ("testing", "applied"), ("testing", "rejected"), ("testing", "proposed"),
}


def fix_in(status: str) -> Fix:
    command = CreateFix(issue_id="iss_1", type="config_change", description="d", changes={"temperature": 0.1})
    fix = Fix.draft("fix_1", "ws", command, "alice", NOW)
    fix.status = status
    fix.events.clear()
    return fix


def test_the_transition_table_is_the_documented_one():
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize("old, new", [(a, b) for a, b in product(STATUSES, STATUSES) if a != b])
def test_every_transition_is_allowed_or_refused_naming_both_ends(old, new):
    fix = fix_in(old)
    if (old, new) in ALLOWED:
        fix.edit(FixPatch(status=new), NOW + timedelta(seconds=1), "cmd")
        assert fix.status == new
        assert [e.routing_key for e in fix.events] == ["fix.updated", "fix.status_changed"]
        changed = fix.events[1]
        assert (changed.old_status, changed.new_status, changed.issue_id) == (old, new, "iss_1")
        assert changed.version == fix.events[0].version == 2
    else:
        with pytest.raises(Conflict, match=f"cannot move from {old} to {new}"):
            fix.edit(FixPatch(status=new), NOW, "cmd")
        assert fix.status == old and fix.events == [] and fix.version == 1


def test_the_same_status_again_changes_nothing():
    fix = fix_in("proposed")
    fix.edit(FixPatch(status="proposed"), NOW, "cmd")
    assert fix.events == [] and fix.version == 1


def test_changes_are_editable_only_while_draft_or_proposed():
    fix = fix_in("proposed")
    fix.edit(FixPatch(changes={"temperature": 0.5}), NOW, "c1")
    assert fix.changes == {"temperature": 0.5}
    assert [e.routing_key for e in fix.events] == ["fix.updated"]
    assert fix.events[0].changed_fields == ["changes"]
    testing = fix_in("testing")
    with pytest.raises(Conflict, match="only be edited while draft or proposed"):
        testing.edit(FixPatch(changes={"temperature": 0.9}), NOW, "c2")


def test_a_refused_patch_changes_nothing_at_all():
    fix = fix_in("applied")
    with pytest.raises(Conflict):
        fix.edit(FixPatch(description="new words", status="proposed"), NOW, "c1")
    assert fix.description == "d" and fix.events == []


def test_detaching_from_a_deleted_issue_keeps_the_fix():
    fix = fix_in("proposed")
    fix.detach(NOW, "evt-1")
    assert fix.issue_id is None and fix.status == "proposed"
    assert fix.events[0].changed_fields == ["issueId"]
    fix.events.clear()
    fix.detach(NOW, "evt-1")
    assert fix.events == []


@pytest.mark.parametrize("fix_type, changes", [
    ("prompt_update", {"promptDiff": "- Answer refund questions.\n+ Answer refund questions, citing the date."}),
    ("prompt_update", {"systemPrompt": "You are a careful support agent."}),
    ("config_change", {"model": "gpt-4o-mini", "temperature": 0.2, "topP": 0.9, "maxTokens": 512, "stop": ["\n\n"]}),
    ("retrieval_update", {"add": [{"id": "policy-2025", "content": "Within 30 days."}], "remove": ["policy-2023"]}),
    ("guardrail", {"rule": "block_pattern", "pattern": "60 days", "fallback": "Let me check the current policy."}),
    ("guardrail", {"rule": "max_length", "maxLength": 400, "fallback": "Short answer."}),
])
def test_valid_changes_of_each_type(fix_type, changes):
    assert checked_changes(fix_type, changes)


@pytest.mark.parametrize("fix_type, changes, field", [
    ("prompt_update", {}, "changes"),
    ("prompt_update", {"promptDiff": "old\n+ new"}, "changes.promptDiff"),
    ("prompt_update", {"promptDiff": "- a", "systemPrompt": "b"}, "changes"),
    ("config_change", {}, "changes"),
    ("config_change", {"temperature": 3}, "changes.temperature"),
    ("config_change", {"top_p": 0.5}, "changes.top_p"),
    ("retrieval_update", {"add": []}, "changes"),
    ("retrieval_update", {"add": [{"id": "x"}]}, "changes.add.0.content"),
    ("guardrail", {"rule": "block_pattern", "pattern": "((", "fallback": "x"}, "changes.pattern"),
    ("guardrail", {"rule": "require_pattern", "fallback": "x"}, "changes"),
    ("guardrail", {"rule": "shout", "fallback": "x"}, "changes.rule"),
])
def test_changes_that_do_not_fit_their_type_name_what_is_wrong(fix_type, changes, field):
    with pytest.raises(InvalidRequest) as raised:
        checked_changes(fix_type, changes)
    assert field in [detail.field for detail in raised.value.details]


@pytest.mark.parametrize("pattern, reason", [
    (r"(\w+) \1", "invalid escape sequence: \\1"),
    (r"refund(?= policy)", "invalid perl operator: (?="),
    (r"(?<!no )refund", "invalid perl operator: (?<"),
    (r"days\Z", "invalid escape sequence: \\Z"),
])
def test_a_guardrail_pattern_that_re2_cannot_compile_is_refused_saying_why(pattern, reason):
    with pytest.raises(InvalidRequest) as raised:
        checked_changes("guardrail", {"rule": "block_pattern", "pattern": pattern, "fallback": "x"})
    [detail] = raised.value.details
    assert detail.field == "changes.pattern"
    assert reason in detail.message and "RE2 syntax" in detail.message and "backreferences" in detail.message


def test_a_guardrail_pattern_too_costly_to_match_is_refused():
    for changes in ({"rule": "block_pattern", "pattern": ".{250}", "fallback": "x"},
                    {"rule": "require_pattern", "pattern": "[a-z]{400}", "ignoreCase": True, "fallback": "x"}):
        with pytest.raises(InvalidRequest) as raised:
            checked_changes("guardrail", changes)
        assert "too complex" in raised.value.message
    assert checked_changes("guardrail", {"rule": "block_pattern", "pattern": "[a-z]{400}", "fallback": "x"})


def test_the_status_history_starts_with_draft_and_records_each_status_entered_with_its_time():
    command = CreateFix(issue_id="iss_1", type="config_change", description="d", changes={"temperature": 0.1})
    fix = Fix.draft("fix_1", "ws", command, "alice", NOW)
    fix.edit(FixPatch(status="proposed"), NOW + timedelta(minutes=1), "c1")
    fix.edit(FixPatch(description="reworded"), NOW + timedelta(minutes=2), "c2")
    fix.edit(FixPatch(status="testing"), NOW + timedelta(minutes=3), "c3")
    fix.edit(FixPatch(status="proposed"), NOW + timedelta(minutes=4), "c4")
    assert [(entry.status, entry.entered_at - NOW) for entry in fix.status_history] == [
        ("draft", timedelta(0)), ("proposed", timedelta(minutes=1)), ("testing", timedelta(minutes=3)),
        ("proposed", timedelta(minutes=4))]
    assert fix.view().to_wire()["statusHistory"][1] == {"status": "proposed", "enteredAt": "2025-08-15T10:01:00.000Z"}
    assert fix.detail().status_history == fix.view().status_history


def test_a_shadow_test_moving_a_draft_to_testing_records_proposed_then_testing():
    fix = Fix.draft("fix_1", "ws", CreateFix(issue_id="iss_1", type="config_change", description="d",
                                             changes={"temperature": 0.1}), "alice", NOW)
    later = NOW + timedelta(seconds=5)
    fix.record_shadow_test(ShadowTestState("st_1", "pending", None, 1), later, "evt-1")
    assert [(entry.status, entry.entered_at) for entry in fix.status_history] == [
        ("draft", NOW), ("proposed", later), ("testing", later)]


def test_the_status_history_keeps_the_last_50_moves():
    fix = fix_in("proposed")
    for n in range(60):
        fix.edit(FixPatch(status="testing" if n % 2 == 0 else "proposed"), NOW + timedelta(seconds=n + 1), f"c{n}")
    assert len(fix.status_history) == STATUS_HISTORY_KEPT == 50
    assert fix.status_history[-1].entered_at == NOW + timedelta(seconds=60)
    assert fix.status_history[0].entered_at == NOW + timedelta(seconds=11)


def test_a_fix_stored_before_the_history_was_kept_starts_it_with_its_current_status():
    fix = Fix(id="fix_1", workspace="ws", issue_id="iss_1", type="config_change", status="testing", description="d",
              changes={}, author="a", created_at=NOW, updated_at=NOW, status_changed_at=NOW + timedelta(hours=1))
    assert [(entry.status, entry.entered_at) for entry in fix.status_history] == [
        ("testing", NOW + timedelta(hours=1))]
