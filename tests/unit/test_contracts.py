import re
from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts.common import Page, format_timestamp, new_id
from shared.contracts.envelope import Envelope
from shared.contracts.fixes import PROMPT_DIFF, ConfigChange, Guardrail, PromptUpdate, RetrievalUpdate
from shared.contracts.issues import CreateIssue, IssuePatch, NewIssue, UpdateIssue


def test_timestamps_are_utc_iso_8601_with_milliseconds_and_z():
    moment = datetime(2025, 8, 12, 16, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2025-08-12T14:30:00.123Z"


def test_ids_carry_the_prefix_and_lowercase_alphanumerics():
    ids = {new_id("iss") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"iss_[a-z0-9]{16}", i) for i in ids)


def test_a_patch_travels_with_only_the_fields_given():
    command = UpdateIssue(issue_id="iss_1", patch=IssuePatch(title="new"))
    assert command.to_wire() == {"issueId": "iss_1", "patch": {"title": "new"}, "expectedVersions": None}
    assert UpdateIssue.model_validate(command.to_wire()).patch.given() == {"title": "new"}


def test_a_patch_rejects_nulls_and_emptiness():
    with pytest.raises(ValidationError, match="title\n  Value error, cannot be null"):
        IssuePatch.model_validate({"title": None})
    with pytest.raises(ValidationError, match="at least one"):
        IssuePatch.model_validate({})


def test_create_keeps_trace_ids_and_tags_once_in_order():
    command = CreateIssue.model_validate({"title": " t ", "description": "d", "agentId": "a", "severity": "low",
                                          "traceIds": ["b", "a", "b"], "tags": ["x", "y", "x"]})
    assert command.trace_ids == ["b", "a"]
    assert command.tags == ["x", "y"]
    assert command.title == "t"


def test_page_has_more_is_exact():
    assert Page[int](items=[1, 2], page=1, limit=2, total=3).has_more is True
    assert Page[int](items=[3], page=2, limit=2, total=3).has_more is False
    assert Page[int](items=[1, 2], page=1, limit=2, total=2).to_wire()["hasMore"] is False


def test_an_envelope_round_trips_through_bytes():
    envelope = Envelope(type="issue.created", workspace="ws", correlation_id="c", payload={"a": 1})
    again = Envelope.from_bytes(envelope.to_bytes())
    assert again == envelope
    assert again.time.tzinfo is not None and again.time <= datetime.now(UTC)


def test_timestamps_keep_four_digit_years():
    assert format_timestamp(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00.000Z"


def test_free_form_fields_refuse_what_the_store_cannot_keep():
    from shared.contracts.traces import TraceInput

    base = {"agentId": "a", "model": {"name": "m"}, "input": [{"role": "user", "content": "x"}], "output": "o"}
    for bad, where in (({"metadata": {"n": 2**64}}, "metadata"), ({"metadata": {"a\x00b": 1}}, "metadata"),
                       ({"model": {"name": "m", "parameters": {"seed": -(2**70)}}}, "model.parameters")):
        with pytest.raises(ValidationError) as raised:
            TraceInput.model_validate({**base, **bad}, by_name=False)
        assert where in str(raised.value)
    assert TraceInput.model_validate({**base, "metadata": {"n": 2**63 - 1, "list": [1, {"x": "y"}]}}, by_name=False)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="-+ ab\n\r\x0b\x0c\x1c\x85\u2028", min_size=1, max_size=12))
def test_the_documented_prompt_diff_pattern_accepts_exactly_what_the_validator_accepts(diff):
    try:
        PromptUpdate.model_validate({"promptDiff": diff})
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(re.search(PROMPT_DIFF, diff)) == accepted, repr(diff)


@pytest.mark.parametrize("model", [PromptUpdate, ConfigChange, RetrievalUpdate, Guardrail, CreateIssue])
def test_each_changes_schema_refuses_what_its_validator_refuses(model):
    schema = model.model_json_schema()
    refused = {
        PromptUpdate: [{}, {"promptDiff": "- a", "systemPrompt": "b"}, {"promptDiff": None, "systemPrompt": None}],
        ConfigChange: [{}, {"temperature": None}],
        RetrievalUpdate: [{}, {"add": [], "remove": []}],
        Guardrail: [{"rule": "max_length", "fallback": "f"},
                    {"rule": "block_pattern", "maxLength": 3, "fallback": "f"}],
        CreateIssue: [{"title": "  ", "description": "d", "agentId": "a", "severity": "low"}],
    }[model]
    accepted = {
        PromptUpdate: {"systemPrompt": "b", "promptDiff": None},
        ConfigChange: {"temperature": None, "seed": 3},
        RetrievalUpdate: {"add": [], "remove": ["doc"]},
        Guardrail: {"rule": "require_pattern", "pattern": "x", "fallback": "f"},
        CreateIssue: {"title": " t ", "description": "d", "agentId": "a", "severity": "low", "tags": [" x "]},
    }[model]
    for data in refused:
        assert not jsonschema.Draft202012Validator(schema).is_valid(data), data
        with pytest.raises(ValidationError):
            model.model_validate(data)
    assert jsonschema.Draft202012Validator(schema).is_valid(accepted)
    model.model_validate(accepted)


def test_a_manual_create_travels_as_before_source_existed_and_a_clustered_one_with_it():
    body = {"title": "t", "description": "d", "agentId": "a", "severity": "low"}
    manual = CreateIssue.of(NewIssue.model_validate(body))
    assert set(manual.to_wire()) == {"title", "description", "agentId", "agentName", "severity", "traceIds", "tags"}
    clustered = CreateIssue.model_validate({**body, "source": "clustering", "clusterConfidence": 0.8})
    assert CreateIssue.model_validate(clustered.to_wire()) == clustered
    assert clustered.to_wire()["source"] == "clustering"


@pytest.mark.parametrize("field, value", [("source", "clustering"), ("source", "manual"), ("clusterConfidence", 0.5)])
def test_the_public_body_refuses_what_only_the_system_sets(field, value):
    with pytest.raises(ValidationError) as refused:
        NewIssue.model_validate({"title": "t", "description": "d", "agentId": "a", "severity": "low", field: value})
    assert [error["loc"] for error in refused.value.errors()] == [(field,)]
