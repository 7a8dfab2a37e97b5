"""What clustering remembers of an agent between batches, in a form that can be stored:
the failing traces waiting for company, the issues with their centroids, the vocabulary, and
the sum of all its failing traces' vectors (`common`, see `clustering.background`)."""

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np

from services.clustering.domain.behaviour import FACTS
from services.clustering.domain.embedding import BEHAVIOUR, AspectVectors
from services.clustering.domain.labels import Vocabulary
from services.clustering.domain.model import Digest
from services.clustering.domain.similarity import Centroid

CLOSED = "closed"


def without_behaviour(rows: np.ndarray) -> np.ndarray:
    """Per-aspect rows with the behaviour aspect emptied."""
    kept = rows.copy()
    kept[BEHAVIOUR] = 0
    return kept


def only_behaviour(rows: np.ndarray, dimension: int | None = None) -> np.ndarray:
    """Per-aspect rows (vectors, or counts and presence flags when `dimension` is None) with
    every aspect but the behaviour emptied; vectors cut or padded to `dimension` columns."""
    if dimension is None:
        kept = np.zeros_like(rows)
        kept[BEHAVIOUR] = rows[BEHAVIOUR]
        return kept
    kept = np.zeros((rows.shape[0], dimension), dtype=rows.dtype)
    kept[BEHAVIOUR, : len(FACTS)] = rows[BEHAVIOUR, : len(FACTS)]
    return kept


@dataclass
class PendingTrace:
    trace_id: str
    customer_id: str | None
    timestamp: datetime
    vectors: AspectVectors
    digest: Digest

    @property
    def sighting(self) -> tuple[AspectVectors, tuple[str, ...]]:
        """What similarity compares: the aspect vectors and the terms."""
        return self.vectors, self.digest.terms


@dataclass
class PlacedTrace:
    """A trace an issue took lately, remembered as a neighbour (see `neighbours.py`)."""

    trace_id: str
    issue_id: str
    vectors: AspectVectors
    terms: tuple[str, ...]


@dataclass
class IssueProfile:
    """An issue as clustering sees it. `status` mirrors the issue's (`open`, `proposed_fix`,
    `testing` or `closed`); every status but `closed` takes new traces."""

    id: str
    status: str
    centroid: Centroid

    @property
    def closed(self) -> bool:
        return self.status == CLOSED


@dataclass
class AgentState:
    agent_id: str
    pending: list[PendingTrace] = field(default_factory=list)
    issues: list[IssueProfile] = field(default_factory=list)
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    common: Centroid | None = None
    model: str = ""
    placed: list[PlacedTrace] = field(default_factory=list)
    facts: int = 0

    def adopt(self, model: str, dimension: int) -> bool:
        """Takes the embedding model in use (a name for it, and its vectors' width). Vectors
        another model made cannot be compared with its own, so they are dropped, all but the
        behaviour aspect (no model makes it): waiting traces keep their words and behaviour,
        issues their words, behaviour and cohesion, and get embedded aspects again from the
        traces that join them; the traces remembered as neighbours are forgotten. A state stored
        before models were named is taken as the current model's when its width is. Returns
        whether vectors were dropped."""
        widths = {p.vectors.matrix.shape[1] for p in [*self.pending, *self.placed]}
        widths |= {i.centroid.sums.shape[1] for i in self.issues}
        if self.common is not None:
            widths.add(self.common.sums.shape[1])
        changed = bool(widths) and (widths != {dimension} or self.model not in ("", model))
        self.model = model
        if not changed:
            return False
        for pending in self.pending:
            pending.vectors = AspectVectors(
                only_behaviour(pending.vectors.matrix, dimension), only_behaviour(pending.vectors.present)
            )
        for issue in self.issues:
            issue.centroid = issue.centroid.with_vectors(
                only_behaviour(issue.centroid.sums, dimension), only_behaviour(issue.centroid.counts)
            )
        self.common = None
        self.placed = []
        return True

    def read_facts(self, version: int) -> bool:
        """Takes the version of the behaviour facts in use (`behaviour.FACTS_VERSION`). Behaviour
        vectors read by other facts, or by the same facts read otherwise, mean something else: they
        are emptied (every other aspect kept), and build up again from the traces that come. A
        state stored before facts were versioned is taken as read otherwise. Returns whether
        stored vectors were emptied."""
        stale = self.facts != version and bool(self.pending or self.issues or self.placed or self.common)
        self.facts = version
        if not stale:
            return False
        for trace in [*self.pending, *self.placed]:
            vectors = trace.vectors
            trace.vectors = AspectVectors(without_behaviour(vectors.matrix), without_behaviour(vectors.present))
        for issue in self.issues:
            issue.centroid = issue.centroid.with_vectors(
                without_behaviour(issue.centroid.sums), without_behaviour(issue.centroid.counts)
            )
        if self.common is not None:
            common = self.common
            self.common = common.with_vectors(without_behaviour(common.sums), without_behaviour(common.counts))
        return True

    def remember(self, vectors: AspectVectors) -> None:
        """Counts a failing trace's vectors into what all the agent's failing traces share."""
        if self.common is None:
            self.common = Centroid.empty(vectors.matrix.shape[1])
        self.common.add(vectors, ())

    def issue(self, issue_id: str) -> IssueProfile | None:
        return next((issue for issue in self.issues if issue.id == issue_id), None)

    def add_issue(
        self,
        issue_id: str,
        status: str,
        members: list[tuple[AspectVectors, tuple[str, ...]]],
    ) -> IssueProfile:
        """An issue made elsewhere (by a caller), from its traces' vectors and terms."""
        profile = IssueProfile(issue_id, status, Centroid.of(members))
        self.issues.append(profile)
        return profile

    def set_status(self, issue_id: str, status: str) -> None:
        if issue := self.issue(issue_id):
            issue.status = status

    def rename_issue(self, key: str, issue_id: str) -> None:
        """A proposed issue's key becomes the id the issues service gave it."""
        if issue := self.issue(key):
            issue.id = issue_id
        for placed in self.placed:
            if placed.issue_id == key:
                placed.issue_id = issue_id

    def remove_issue(self, issue_id: str) -> None:
        self.issues = [issue for issue in self.issues if issue.id != issue_id]
        self.placed = [placed for placed in self.placed if placed.issue_id != issue_id]

    def remember_placed(self, placed: list[PlacedTrace], kept: int) -> None:
        """Remembers the traces issues just took, the `kept` latest of all."""
        self.placed = [*self.placed, *placed][-kept:] if kept else []

    def to_document(self) -> dict:
        return {
            "agentId": self.agent_id,
            "pending": [
                {
                    "traceId": p.trace_id,
                    "customerId": p.customer_id,
                    "timestamp": p.timestamp,
                    "vectors": p.vectors.to_lists(),
                    "digest": {**asdict(p.digest), "terms": list(p.digest.terms)},
                }
                for p in self.pending
            ],
            "issues": [{"id": i.id, "status": i.status, "centroid": i.centroid.to_lists()} for i in self.issues],
            "vocabulary": {"documents": self.vocabulary.documents, "frequencies": dict(self.vocabulary.frequencies)},
            "common": None if self.common is None else self.common.to_lists(),
            "model": self.model,
            "facts": self.facts,
            "placed": [
                {"traceId": p.trace_id, "issueId": p.issue_id, "vectors": p.vectors.to_lists(), "terms": list(p.terms)}
                for p in self.placed
            ],
        }

    @classmethod
    def from_document(cls, document: dict) -> "AgentState":
        return cls(
            agent_id=document["agentId"],
            pending=[
                PendingTrace(
                    p["traceId"],
                    p["customerId"],
                    p["timestamp"],
                    AspectVectors.from_lists(p["vectors"]),
                    Digest(**{**p["digest"], "terms": tuple(p["digest"]["terms"])}),
                )
                for p in document["pending"]
            ],
            issues=[IssueProfile(i["id"], i["status"], Centroid.from_lists(i["centroid"])) for i in document["issues"]],
            vocabulary=Vocabulary(document["vocabulary"]["documents"], Counter(document["vocabulary"]["frequencies"])),
            common=Centroid.from_lists(document["common"]) if document.get("common") else None,
            model=document.get("model", ""),
            facts=document.get("facts", 0),
            placed=[
                PlacedTrace(p["traceId"], p["issueId"], AspectVectors.from_lists(p["vectors"]), tuple(p["terms"]))
                for p in document.get("placed", [])
            ],
        )
