from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest

from services.issues import bootstrap, handlers
from services.issues.domain.model import ShadowTestState
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Conflict, ErrorCode, NotFound, PreconditionFailed
from shared.contracts.fixes import FixUpdated, FixView
from shared.contracts.issues import (
    AttachTraces,
    CreateIssue,
    DeleteIssue,
    GetIssue,
    IssuePatch,
    ListIssues,
    UpdateIssue,
)
from shared.contracts.traces import TraceFact, TracesIngested
from shared.messaging.commands import CommandContext
from shared.store.unit_of_work import CONFLICT_ATTEMPTS
from tests.unit.fakes import FakeAppliedCommands, FakeIssueRepository, FakeTraceFacts, NoShadowTests, RecordingNotifier

NOW = datetime(2025, 8, 15, 10, 0, tzinfo=UTC)


def context(command_id="cmd-1", workspace="ws") -> CommandContext:
    return CommandContext(command_id=command_id, workspace=workspace, actor="key_1", correlation_id="corr-1")


@pytest.fixture
def deps():
    return bootstrap.build(FakeIssueRepository(), FakeAppliedCommands(), FakeTraceFacts(), NoShadowTests(),
                           RecordingNotifier(), clock=lambda: NOW)


def create(**fields) -> CreateIssue:
    return CreateIssue(**{"title": "t", "description": "d", "agent_id": "a", "severity": "low", **fields})


async def test_create_stores_the_issue_with_its_event_and_notifies_the_relay(deps):
    result = await handlers.create_issue(create(), context(), deps)
    assert result.replayed is False
    assert result.issue.status == "open"
    assert deps.issues.events() == ["issue.created"]
    event = deps.issues.outbox[result.issue.id][0]
    assert (event.workspace, event.correlation_id, event.actor) == ("ws", "corr-1", "key_1")
    assert deps.work.notify.notified == [result.issue.id]


async def test_the_same_command_again_replays_the_first_answer_without_a_new_event(deps):
    first = await handlers.create_issue(create(), context(), deps)
    again = await handlers.create_issue(create(), context(), deps)
    assert again.replayed is True
    assert again.issue == first.issue
    assert len(deps.issues.issues) == 1
    assert deps.issues.events() == ["issue.created"]


async def test_the_same_command_id_with_another_body_is_a_conflict(deps):
    await handlers.create_issue(create(), context(), deps)
    with pytest.raises(Conflict, match="different request body"):
        await handlers.create_issue(create(title="other"), context(), deps)


async def test_the_same_command_id_in_another_workspace_is_another_issue(deps):
    await handlers.create_issue(create(), context(workspace="ws"), deps)
    other = await handlers.create_issue(create(), context(workspace="other"), deps)
    assert other.replayed is False
    assert len(deps.issues.issues) == 2


async def test_an_id_collision_is_retried_not_surfaced(deps):
    ids = iter(["iss_taken", "iss_free"])
    deps.issues.taken_ids.add("iss_taken")
    with patch.object(handlers, "new_issue_id", lambda: next(ids)):
        result = await handlers.create_issue(create(), context(), deps)
    assert result.issue.id == "iss_free"


async def test_update_retries_after_a_concurrent_change(deps):
    created = await handlers.create_issue(create(), context(), deps)
    deps.issues.conflicts_to_raise = 2
    updated = await handlers.update_issue(
        UpdateIssue(issue_id=created.issue.id, patch=IssuePatch(title="new")), context("cmd-2"), deps
    )
    assert updated.issue.title == "new"
    assert deps.issues.events() == ["issue.created", "issue.updated"]


async def test_update_gives_up_with_a_conflict_when_changes_never_stop(deps):
    created = await handlers.create_issue(create(), context(), deps)
    deps.issues.conflicts_to_raise = CONFLICT_ATTEMPTS
    with pytest.raises(Conflict):
        await handlers.update_issue(
            UpdateIssue(issue_id=created.issue.id, patch=IssuePatch(title="new")), context("cmd-2"), deps
        )


async def test_an_update_command_seen_before_is_not_applied_again(deps):
    created = await handlers.create_issue(create(), context(), deps)
    command = UpdateIssue(issue_id=created.issue.id, patch=IssuePatch(tags=["x"]))
    await handlers.update_issue(command, context("cmd-2"), deps)
    again = await handlers.update_issue(command, context("cmd-2"), deps)
    assert again.issue.tags == ["x"]
    assert deps.issues.issues[created.issue.id].version == 2
    assert deps.issues.events() == ["issue.created", "issue.updated"]


async def test_unknown_deleted_and_foreign_issues_are_not_found(deps):
    created = await handlers.create_issue(create(), context(), deps)
    with pytest.raises(NotFound, match="Issue iss_nope not found"):
        await handlers.get_issue(GetIssue(issue_id="iss_nope"), context(), deps)
    with pytest.raises(NotFound):
        await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(workspace="other"), deps)
    await handlers.delete_issue(DeleteIssue(issue_id=created.issue.id), context("cmd-3"), deps)
    with pytest.raises(NotFound):
        await handlers.delete_issue(DeleteIssue(issue_id=created.issue.id), context("cmd-4"), deps)
    with pytest.raises(NotFound):
        await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(), deps)
    assert deps.issues.events() == ["issue.created", "issue.deleted"]


async def test_a_redelivered_delete_succeeds_again_without_a_second_event(deps):
    created = await handlers.create_issue(create(), context(), deps)
    command = DeleteIssue(issue_id=created.issue.id)
    await handlers.delete_issue(command, context("cmd-del"), deps)
    again = await handlers.delete_issue(command, context("cmd-del"), deps)
    assert again.issue_id == created.issue.id
    assert deps.issues.events() == ["issue.created", "issue.deleted"]


async def test_list_reports_exact_pagination(deps):
    for n in range(5):
        await handlers.create_issue(create(title=f"t{n}"), context(f"c{n}"), deps)
    page = await handlers.list_issues(ListIssues(limit=2, page=3), context(), deps)
    assert (len(page.items), page.total, page.has_more) == (1, 5, False)
    page = await handlers.list_issues(ListIssues(limit=2, page=2), context(), deps)
    assert page.has_more is True


def facts(*specs) -> TracesIngested:
    return TracesIngested(traces=[
        TraceFact(id=trace_id, agent_id="a", agent_name=name, customer_id=customer, timestamp=NOW + timedelta(hours=h))
        for trace_id, name, customer, h in specs
    ])


def ingested_envelope(event: TracesIngested, workspace="ws", message_id="evt-1") -> Envelope:
    return Envelope(message_id=message_id, type=event.routing_key, workspace=workspace, correlation_id="c",
                    payload=event.to_wire())


async def test_an_issue_created_after_its_traces_starts_with_their_metadata_and_agent_name(deps):
    await handlers.on_traces_ingested(facts(("tr_1", "Support Bot", "c1", 2), ("tr_2", None, "c2", 0)),
                                      ingested_envelope(facts()), deps)
    created = await handlers.create_issue(create(trace_ids=["tr_1", "tr_2", "tr_9"]), context(), deps)
    assert created.issue.agent_name == "Support Bot"
    detail = (await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(), deps)).issue
    assert (detail.metadata.first_seen_at, detail.metadata.last_seen_at) == (NOW, NOW + timedelta(hours=2))
    assert detail.metadata.affected_customers == 2


async def test_traces_arriving_after_the_issue_update_it_once(deps):
    created = await handlers.create_issue(create(trace_ids=["tr_1", "tr_2"]), context(), deps)
    event = facts(("tr_1", "Support Bot", "c1", 1), ("tr_3", None, "c9", 5))
    await handlers.on_traces_ingested(event, ingested_envelope(event), deps)
    await handlers.on_traces_ingested(event, ingested_envelope(event), deps)
    detail = (await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(), deps)).issue
    assert detail.agent_name == "Support Bot"
    assert (detail.metadata.first_seen_at, detail.metadata.affected_customers) == (NOW + timedelta(hours=1), 1)
    assert deps.issues.events() == ["issue.created", "issue.updated"]


async def test_an_issue_with_a_test_the_runner_says_is_active_is_not_deleted(deps):
    created = await handlers.create_issue(create(), context(), deps)
    deps.shadow_tests.active[created.issue.id] = ["st_1"]
    with pytest.raises(Conflict, match="st_1"):
        await handlers.delete_issue(DeleteIssue(issue_id=created.issue.id), context("cmd-del"), deps)


def update(issue_id: str, expected: list[int] | None, **patch) -> UpdateIssue:
    return UpdateIssue(issue_id=issue_id, patch=IssuePatch(**patch), expected_versions=expected)


async def test_a_conditional_update_at_the_version_read_applies_and_answers_the_new_version(deps):
    created = await handlers.create_issue(create(tags=["a"]), context(), deps)
    assert created.version == 1
    read = await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(), deps)
    assert read.version == 1
    updated = await handlers.update_issue(update(created.issue.id, [read.version], tags=["a", "b"]),
                                          context("cmd-2"), deps)
    assert (updated.issue.tags, updated.version) == (["a", "b"], 2)
    assert deps.issues.issues[created.issue.id].version == 2


async def test_a_conditional_update_of_a_version_not_named_is_refused_and_changes_nothing(deps):
    created = await handlers.create_issue(create(tags=["a"]), context(), deps)
    await handlers.update_issue(update(created.issue.id, None, tags=["a", "theirs"]), context("cmd-2"), deps)
    for expected in ([1], [], [1, 3]):
        with pytest.raises(PreconditionFailed) as refused:
            await handlers.update_issue(update(created.issue.id, expected, tags=["a", "mine"]), context("cmd-3"), deps)
        assert refused.value.code == ErrorCode.PRECONDITION_FAILED
        assert refused.value.message.startswith(f'Issue {created.issue.id} changed since it was read; '
                                                'its current ETag is "2"')
    assert deps.issues.issues[created.issue.id].tags == ["a", "theirs"]
    assert deps.issues.events() == ["issue.created", "issue.updated"]
    either = await handlers.update_issue(update(created.issue.id, [1, 2], tags=["a", "theirs", "mine"]),
                                         context("cmd-4"), deps)
    assert either.version == 3


async def test_a_change_between_the_read_and_the_write_refuses_a_conditional_update_instead_of_retrying(deps):
    created = await handlers.create_issue(create(tags=["a"]), context(), deps)
    deps.issues.after_read.append(lambda stored: setattr(stored, "tags", ["a", "theirs"]))
    with pytest.raises(PreconditionFailed, match='current ETag is "2"'):
        await handlers.update_issue(update(created.issue.id, [1], tags=["a", "mine"]), context("cmd-2"), deps)
    assert deps.issues.issues[created.issue.id].tags == ["a", "theirs"]
    assert deps.issues.events() == ["issue.created"]

    deps.issues.after_read.append(lambda stored: setattr(stored, "title", "theirs"))
    unconditional = await handlers.update_issue(update(created.issue.id, None, tags=["a", "mine"]),
                                                context("cmd-3"), deps)
    assert (unconditional.issue.title, unconditional.issue.tags, unconditional.version) == ("theirs", ["a", "mine"], 4)


async def test_a_redelivered_conditional_update_answers_as_the_first_delivery_did(deps):
    created = await handlers.create_issue(create(), context(), deps)
    command = update(created.issue.id, [1], tags=["x"])
    first = await handlers.update_issue(command, context("cmd-2"), deps)
    again = await handlers.update_issue(command, context("cmd-2"), deps)
    assert again == first
    assert deps.issues.events() == ["issue.created", "issue.updated"]


async def test_an_unknown_issue_is_not_found_whatever_the_condition(deps):
    with pytest.raises(NotFound):
        await handlers.update_issue(update("iss_nope", [1], title="x"), context(), deps)
    with pytest.raises(NotFound):
        await handlers.delete_issue(DeleteIssue(issue_id="iss_nope", expected_versions=[1]), context(), deps)


async def test_a_conditional_delete_needs_the_version_read_and_a_redelivery_still_succeeds(deps):
    created = await handlers.create_issue(create(), context(), deps)
    await handlers.update_issue(update(created.issue.id, None, title="moved on"), context("cmd-2"), deps)
    with pytest.raises(PreconditionFailed, match='current ETag is "2"'):
        await handlers.delete_issue(DeleteIssue(issue_id=created.issue.id, expected_versions=[1]), context("d1"), deps)
    assert deps.issues.issues[created.issue.id].deleted_at is None
    command = DeleteIssue(issue_id=created.issue.id, expected_versions=[2])
    await handlers.delete_issue(command, context("d2"), deps)
    again = await handlers.delete_issue(command, context("d2"), deps)
    assert again.issue_id == created.issue.id
    assert deps.issues.events() == ["issue.created", "issue.updated", "issue.deleted"]


async def test_a_change_the_views_do_not_show_still_moves_the_version_a_delete_is_checked_against(deps):
    created = await handlers.create_issue(create(), context(), deps)
    issue = await deps.issues.get("ws", created.issue.id)
    issue.record_shadow_test(ShadowTestState("st_1", "running", 1), NOW, "evt-st")
    await deps.issues.save(issue, [])
    read = await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(), deps)
    assert (read.issue.updated_at, read.version) == (created.issue.updated_at, 2)
    with pytest.raises(PreconditionFailed, match='current ETag is "2"'):
        await handlers.delete_issue(DeleteIssue(issue_id=created.issue.id, expected_versions=[1]), context("d1"), deps)
    with pytest.raises(Conflict, match="active shadow tests"):
        await handlers.delete_issue(DeleteIssue(issue_id=created.issue.id, expected_versions=[2]), context("d2"), deps)


async def test_an_update_redelivered_after_sixty_others_is_not_applied_again(deps):
    created = await handlers.create_issue(create(), context(), deps)
    first = update(created.issue.id, None, tags=["first"])
    await handlers.update_issue(first, context("cmd-first"), deps)
    for n in range(60):
        await handlers.update_issue(update(created.issue.id, None, tags=[f"t{n}"]), context(f"cmd-{n}"), deps)
    again = await handlers.update_issue(first, context("cmd-first"), deps)
    assert (again.issue.tags, again.version) == (["t59"], 62)
    assert deps.issues.events().count("issue.updated") == 61


async def test_a_patch_that_changes_nothing_keeps_the_version_and_emits_nothing(deps):
    created = await handlers.create_issue(create(tags=["a"]), context(), deps)
    same = await handlers.update_issue(update(created.issue.id, [1], title="t", tags=["a"]), context("cmd-2"), deps)
    assert (same.version, same.issue) == (1, created.issue)
    assert deps.issues.events() == ["issue.created"]


def attach(issue_id: str, *trace_ids: str) -> AttachTraces:
    return AttachTraces(issue_id=issue_id, trace_ids=list(trace_ids))


async def closed_issue(deps, **fields) -> str:
    created = await handlers.create_issue(create(trace_ids=["tr_1"], **fields), context(), deps)
    fix = FixView(id="fix_1", issue_id=created.issue.id, type="config_change", status="applied", description="d",
                  changes={"temperature": 0.1}, author="a", created_at=NOW, updated_at=NOW)
    event = FixUpdated(fix=fix, version=4, changed_fields=["status"], status_version=4, status_changed_at=NOW)
    envelope = Envelope(message_id="evt-applied", type=event.routing_key, workspace="ws", correlation_id="c",
                        payload=event.to_wire())
    await handlers.on_fix_changed(event, envelope, deps)
    assert deps.issues.issues[created.issue.id].status == "closed"
    return created.issue.id


async def test_a_clustered_issue_keeps_its_source_and_confidence_and_lists_by_source(deps):
    clustered = await handlers.create_issue(create(source="clustering", cluster_confidence=0.9), context("c1"), deps)
    manual = await handlers.create_issue(create(), context("c2"), deps)
    assert (clustered.issue.source, manual.issue.source) == ("clustering", "manual")
    detail = (await handlers.get_issue(GetIssue(issue_id=clustered.issue.id), context(), deps)).issue
    assert detail.metadata.cluster_confidence == 0.9
    for source, expected in (("clustering", clustered), ("manual", manual)):
        page = await handlers.list_issues(ListIssues(source=source), context(), deps)
        assert [issue.id for issue in page.items] == [expected.issue.id]


async def test_attaching_traces_updates_the_count_and_the_metadata_from_every_trace(deps):
    event = facts(("tr_1", None, "c1", 0), ("tr_2", None, "c2", 3), ("tr_3", None, "c2", 5))
    await handlers.on_traces_ingested(event, ingested_envelope(event), deps)
    created = await handlers.create_issue(create(trace_ids=["tr_1"], source="clustering", cluster_confidence=0.6),
                                          context(), deps)
    result = await handlers.attach_traces(attach(created.issue.id, "tr_1", "tr_2", "tr_3"), context("cmd-a"), deps)
    assert (result.reopened, result.issue.trace_count, result.version) == (False, 3, 2)
    detail = (await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(), deps)).issue
    assert detail.trace_ids == ["tr_1", "tr_2", "tr_3"]
    assert (detail.metadata.first_seen_at, detail.metadata.last_seen_at) == (NOW, NOW + timedelta(hours=5))
    assert (detail.metadata.affected_customers, detail.metadata.cluster_confidence) == (2, 0.6)
    assert deps.issues.events() == ["issue.created", "issue.updated"]


async def test_attaching_to_an_unknown_deleted_or_other_workspaces_issue_is_not_found(deps):
    created = await handlers.create_issue(create(), context(), deps)
    with pytest.raises(NotFound):
        await handlers.attach_traces(attach(created.issue.id, "tr_1"), context("a1", workspace="other"), deps)
    with pytest.raises(NotFound):
        await handlers.attach_traces(attach("iss_nope", "tr_1"), context("a2"), deps)
    await handlers.delete_issue(DeleteIssue(issue_id=created.issue.id), context("del"), deps)
    with pytest.raises(NotFound):
        await handlers.attach_traces(attach(created.issue.id, "tr_1"), context("a3"), deps)


async def test_attaching_past_the_trace_limit_is_a_conflict_and_stores_nothing(deps):
    created = await handlers.create_issue(create(trace_ids=[f"tr_{n}" for n in range(9_990)]), context(), deps)
    with pytest.raises(Conflict) as refused:
        await handlers.attach_traces(attach(created.issue.id, *(f"tr_new_{n}" for n in range(11))), context("a"), deps)
    assert refused.value.code == ErrorCode.CONFLICT
    assert deps.issues.issues[created.issue.id].trace_count == 9_990
    assert deps.issues.events() == ["issue.created"]


async def test_attaching_to_a_closed_issue_reopens_it_once_however_often_it_is_delivered(deps):
    issue_id = await closed_issue(deps)
    first = await handlers.attach_traces(attach(issue_id, "tr_2"), context("cmd-attach"), deps)
    assert (first.reopened, first.issue.status) == (True, "open")
    again = await handlers.attach_traces(attach(issue_id, "tr_2"), context("cmd-attach"), deps)
    assert again == first
    stored = deps.issues.issues[issue_id]
    assert (stored.metadata.regression_count, stored.metadata.regressed_at) == (1, NOW)
    assert deps.issues.events(issue_id) == ["issue.created", "issue.updated", "issue.updated", "issue.regressed"]
    regressed = deps.issues.outbox[issue_id][-1]
    assert regressed.workspace == "ws"
    assert regressed.payload["closedByFixId"] == "fix_1"
    assert (regressed.payload["regressionCount"], regressed.payload["traceIds"]) == (1, ["tr_2"])


async def test_a_redelivered_attach_answers_reopened_even_after_the_tracking_record_took_over(deps):
    issue_id = await closed_issue(deps)
    await handlers.attach_traces(attach(issue_id, "tr_2"), context("cmd-attach"), deps)
    await handlers.update_issue(update(issue_id, None, title="later"), context("cmd-later"), deps)
    again = await handlers.attach_traces(attach(issue_id, "tr_2"), context("cmd-attach"), deps)
    assert (again.reopened, again.issue.title) == (True, "later")
    assert deps.issues.events(issue_id).count("issue.regressed") == 1


async def test_the_stale_fix_event_redelivered_after_a_regression_leaves_the_issue_open(deps):
    issue_id = await closed_issue(deps)
    await handlers.attach_traces(attach(issue_id, "tr_2"), context("cmd-attach"), deps)
    fix = FixView(id="fix_1", issue_id=issue_id, type="config_change", status="applied", description="reworded",
                  changes={"temperature": 0.1}, author="a", created_at=NOW, updated_at=NOW)
    later_snapshot = FixUpdated(fix=fix, version=5, changed_fields=["description"], status_version=4,
                                status_changed_at=NOW)
    envelope = Envelope(message_id="evt-reworded", type="fix.updated", workspace="ws", correlation_id="c",
                        payload=later_snapshot.to_wire())
    await handlers.on_fix_changed(later_snapshot, envelope, deps)
    assert deps.issues.issues[issue_id].status == "open"


def fix_news(issue_id: str, status: str, version: int, message_id: str) -> tuple[FixUpdated, Envelope]:
    fix = FixView(id="fix_1", issue_id=issue_id, type="config_change", status=status, description="d",
                  changes={"temperature": 0.1}, author="a", created_at=NOW, updated_at=NOW)
    event = FixUpdated(fix=fix, version=version, changed_fields=["status"], status_version=version,
                       status_changed_at=NOW)
    return event, Envelope(message_id=message_id, type=event.routing_key, workspace="ws", correlation_id="c",
                           payload=event.to_wire())


async def test_news_of_a_fix_applied_before_a_failing_trace_already_attached_regresses_the_issue_once(deps):
    event = facts(("tr_before", None, "c1", -2), ("tr_after", None, "c2", 1))
    await handlers.on_traces_ingested(event, ingested_envelope(event), deps)
    created = await handlers.create_issue(create(trace_ids=["tr_before"]), context(), deps)
    await handlers.attach_traces(attach(created.issue.id, "tr_after"), context("cmd-attach"), deps)

    applied = fix_news(created.issue.id, "applied", 4, "evt-applied")
    await handlers.on_fix_changed(*applied, deps)
    await handlers.on_fix_changed(*applied, deps)

    stored = deps.issues.issues[created.issue.id]
    assert (stored.status, stored.metadata.regression_count, stored.metadata.regressed_at) == ("open", 1, NOW)
    assert deps.issues.events(created.issue.id).count("issue.regressed") == 1
    regressed = deps.issues.outbox[created.issue.id][-1]
    assert (regressed.type, regressed.payload["closedByFixId"], regressed.payload["traceIds"]) == (
        "issue.regressed", "fix_1", ["tr_after"])


async def test_news_of_an_applied_fix_closes_the_issue_whose_traces_were_all_seen_before(deps):
    event = facts(("tr_before", None, "c1", -2), ("tr_also_before", None, "c2", -1))
    await handlers.on_traces_ingested(event, ingested_envelope(event), deps)
    created = await handlers.create_issue(create(trace_ids=["tr_before"]), context(), deps)
    await handlers.attach_traces(attach(created.issue.id, "tr_also_before"), context("cmd-attach"), deps)
    await handlers.on_fix_changed(*fix_news(created.issue.id, "applied", 4, "evt-applied"), deps)
    stored = deps.issues.issues[created.issue.id]
    assert (stored.status, stored.closed_by_fix_id, stored.metadata.regression_count) == ("closed", "fix_1", 0)
    assert "issue.regressed" not in deps.issues.events(created.issue.id)


async def test_facts_heard_after_the_fix_closed_the_issue_of_a_trace_seen_after_it_regress_the_issue_once(deps):
    created = await handlers.create_issue(create(trace_ids=["tr_before"]), context(), deps)
    await handlers.attach_traces(attach(created.issue.id, "tr_after"), context("cmd-attach"), deps)
    await handlers.on_fix_changed(*fix_news(created.issue.id, "applied", 4, "evt-applied"), deps)
    assert deps.issues.issues[created.issue.id].status == "closed", "nothing known yet of when the traces were seen"

    event = facts(("tr_before", None, "c1", -2), ("tr_after", None, "c2", 1))
    await handlers.on_traces_ingested(event, ingested_envelope(event, message_id="evt-facts"), deps)
    await handlers.on_traces_ingested(event, ingested_envelope(event, message_id="evt-facts"), deps)

    stored = deps.issues.issues[created.issue.id]
    assert (stored.status, stored.metadata.regression_count, stored.metadata.affected_customers) == ("open", 1, 2)
    assert deps.issues.events(created.issue.id).count("issue.regressed") == 1
    regressed = deps.issues.outbox[created.issue.id][-1]
    assert (regressed.payload["closedByFixId"], regressed.payload["traceIds"]) == ("fix_1", ["tr_after"])


async def test_facts_of_traces_all_seen_before_the_fix_leave_the_issue_closed(deps):
    created = await handlers.create_issue(create(trace_ids=["tr_before"]), context(), deps)
    await handlers.on_fix_changed(*fix_news(created.issue.id, "applied", 4, "evt-applied"), deps)
    event = facts(("tr_before", None, "c1", -2))
    await handlers.on_traces_ingested(event, ingested_envelope(event, message_id="evt-facts"), deps)
    stored = deps.issues.issues[created.issue.id]
    assert (stored.status, stored.metadata.affected_customers, stored.metadata.regression_count) == ("closed", 1, 0)


class FactsHeardWhileAttaching(FakeTraceFacts):
    """Trace facts that a `traces.ingested` event records (`heard`) right after the next look-up."""

    heard: TracesIngested | None = None

    async def knowledge(self, workspace, trace_ids, unnamed_agent):
        answer = await super().knowledge(workspace, trace_ids, unnamed_agent)
        if self.heard:
            await self.record(workspace, self.heard.traces)
            self.heard = None
        return answer


async def test_traces_heard_of_while_being_attached_are_taken_in_once_stored():
    trace_facts = FactsHeardWhileAttaching()
    deps = bootstrap.build(FakeIssueRepository(), FakeAppliedCommands(), trace_facts, NoShadowTests(),
                           RecordingNotifier(), clock=lambda: NOW)
    created = await handlers.create_issue(create(trace_ids=["tr_1"]), context(), deps)
    trace_facts.heard = facts(("tr_2", None, "c7", 4))
    await handlers.attach_traces(attach(created.issue.id, "tr_2"), context("cmd-a"), deps)
    detail = (await handlers.get_issue(GetIssue(issue_id=created.issue.id), context(), deps)).issue
    assert (detail.metadata.affected_customers, detail.metadata.last_seen_at) == (1, NOW + timedelta(hours=4))
