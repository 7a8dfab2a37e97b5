from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from services.fixes.domain.model import TRANSITIONS, Fix, checked_changes
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
