"""The Fix aggregate: a proposed change for an issue, and its lifecycle.

    draft ──► proposed ──► testing ──► applied
      │          │  ▲         │
      │          │  └─────────┤
      └──────────┴────────────┴──► rejected

`applied` and `rejected` are final. `changes` can be edited while draft or proposed.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from shared.contracts.common import new_id
from shared.contracts.errors import Conflict, invalid_request
from shared.contracts.fixes import (
    CHANGES_BY_TYPE,
    CreateFix,
    FixCreated,
    FixDetail,
    FixPatch,
    FixStatusChanged,
    FixUpdated,
    FixView,
    ShadowTestSummary,
)
from shared.store.aggregate import Aggregate

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"proposed", "rejected"}),
    "proposed": frozenset({"testing", "rejected"}),
    "testing": frozenset({"applied", "rejected", "proposed"}),
    "applied": frozenset(),
    "rejected": frozenset(),
}
CHANGES_EDITABLE_IN = frozenset({"draft", "proposed"})
STATUS_HISTORY_KEPT = 50


def new_fix_id() -> str:
    return new_id("fix")


@dataclass(frozen=True)
class StatusEntry:
    """A status the fix entered, at `entered_at`."""

    status: str
    entered_at: datetime


@dataclass(frozen=True)
class ShadowTestState:
    """What a fix knows of one of its shadow tests, as of the test's `version`."""

    id: str
    status: str
    improvement_rate: float | None
    version: int
    recommendation: str | None = None

    def summary(self) -> ShadowTestSummary:
        return ShadowTestSummary(id=self.id, status=self.status, improvement_rate=self.improvement_rate,
                                 recommendation=self.recommendation)


def checked_changes(fix_type: str, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` validated against the schema of its fix type, in its canonical form."""
    try:
        parsed = CHANGES_BY_TYPE[fix_type].model_validate(changes, by_name=False)
    except ValidationError as error:
        raise invalid_request(error, prefix="changes") from None
    return parsed.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass
class Fix(Aggregate):
    id: str
    workspace: str
    issue_id: str | None
    type: str
    status: str
    description: str
    changes: dict[str, Any]
    author: str
    created_at: datetime
    updated_at: datetime
    shadow_tests: list[ShadowTestState] = field(default_factory=list)
    status_version: int = 1
    status_changed_at: datetime | None = None
    status_history: list[StatusEntry] = field(default_factory=list)
    """The last `STATUS_HISTORY_KEPT` statuses entered, oldest first; a fix stored before the
    history was kept starts it with its status as of its last move."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.status_changed_at = self.status_changed_at or self.created_at
        self.status_history = self.status_history or [StatusEntry(self.status, self.status_changed_at)]

    @classmethod
    def draft(cls, fix_id: str, workspace: str, command: CreateFix, author: str, now: datetime) -> "Fix":
        fix = cls(
            id=fix_id,
            workspace=workspace,
            issue_id=command.issue_id,
            type=command.type,
            status="draft",
            description=command.description,
            changes=checked_changes(command.type, command.changes),
            author=author,
            created_at=now,
            updated_at=now,
        )
        fix.events.append(FixCreated(fix=fix.view(), version=fix.version, status_version=fix.status_version,
                                     status_changed_at=fix.status_changed_at))
        return fix

    def edit(self, patch: FixPatch, now: datetime, command_id: str) -> None:
        """Applies a PATCH: checks every rule first, then changes all or nothing."""
        changes = patch.given()
        new_status = changes.get("status", self.status)
        if new_status != self.status and new_status not in TRANSITIONS[self.status]:
            allowed = ", ".join(sorted(TRANSITIONS[self.status])) or "none, it is final"
            raise Conflict(f"Fix {self.id} cannot move from {self.status} to {new_status} (allowed: {allowed})")
        if "changes" in changes:
            if self.status not in CHANGES_EDITABLE_IN:
                raise Conflict(
                    f"Fix {self.id} is {self.status}; its changes can only be edited while draft or proposed"
                )
            changes["changes"] = checked_changes(self.type, changes["changes"])
        changed = sorted(name for name, value in changes.items() if getattr(self, name) != value)
        if not changed:
            return
        old_status = self.status
        for name in changed:
            setattr(self, name, changes[name])
        self._changed(now, command_id, changed, moved_from=old_status)

    def record_shadow_test(self, test: ShadowTestState, now: datetime, event_id: str) -> None:
        """Takes in news of a shadow test of this fix (stale or repeated news changes nothing).
        A new test puts a draft or proposed fix in testing, through proposed."""
        known = next((each for each in self.shadow_tests if each.id == test.id), None)
        if (known and known.version >= test.version) or self.has_applied(event_id):
            return
        kept = [test if each.id == test.id else each for each in self.shadow_tests]
        self.shadow_tests = kept if known else [*kept, test]
        self._changed(now, event_id, ["shadow_tests"])
        if known is None:
            for step in {"draft": ("proposed", "testing"), "proposed": ("testing",)}.get(self.status, ()):
                old_status, self.status = self.status, step
                self._changed(now, event_id, ["status"], moved_from=old_status)

    def detach(self, now: datetime, command_id: str) -> None:
        """The fix's issue was deleted: the fix stays, belonging to no issue."""
        if self.issue_id is None:
            return
        self.issue_id = None
        self._changed(now, command_id, ["issue_id"])

    def _changed(self, now: datetime, command_id: str, fields: list[str], moved_from: str | None = None) -> None:
        """One new version: `fix.updated`, and `fix.status_changed` when the status moved."""
        self.updated_at = max(now, self.updated_at)
        self.next_version(command_id)
        moved = moved_from is not None and moved_from != self.status
        if moved:
            self.status_version, self.status_changed_at = self.version, now
            self.status_history = [*self.status_history, StatusEntry(self.status, now)][-STATUS_HISTORY_KEPT:]
        stamp = {"fix": self.view(), "version": self.version, "status_version": self.status_version,
                 "status_changed_at": self.status_changed_at}
        self.events.append(FixUpdated(**stamp, changed_fields=[to_camel(name) for name in fields]))
        if moved:
            self.events.append(
                FixStatusChanged(**stamp, issue_id=self.issue_id, old_status=moved_from, new_status=self.status)
            )

    def view(self) -> FixView:
        return FixView.model_validate(self._view_fields())

    def detail(self) -> FixDetail:
        shadow_tests = [test.summary() for test in self.shadow_tests]
        return FixDetail.model_validate({**self._view_fields(), "shadow_tests": shadow_tests})

    def _view_fields(self) -> dict:
        return {
            "id": self.id,
            "issue_id": self.issue_id,
            "type": self.type,
            "status": self.status,
            "description": self.description,
            "changes": self.changes,
            "author": self.author,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "status_history": [{"status": entry.status, "entered_at": entry.entered_at}
                               for entry in self.status_history],
        }
