"""Shared nearest neighbours: who a waiting trace's nearest traces are, as evidence beside how
alike the two are.

Two traces of one failure are alike, and they are also near the same other traces: most of
their ten nearest traces (among the agent's waiting traces and those it placed lately) are of
that failure too. A near miss about the same things can be as alike to a member as members are
to each other, but its nearest traces are spread over several failures. On the nine labelled
sets, the pairwise similarity alone tells a same-mode pair from another at AUC 0.90; the number
of nearest traces two traces share at 0.95 (see docs/clustering.md).

The evidence adds `WEIGHT × (share − NEUTRAL_SHARE)` to a similarity: the share of the ten
nearest traces two waiting traces have in common, or the share of a trace's ten nearest traces
that are members of an issue (or of a forming cluster). A share of one half leaves the similarity
as it was. An issue fewer of whose members are remembered than it has members, up to ten (a
caller's issue, one whose members were placed long ago), has no such evidence. A group smaller
than ten can fill only part of a trace's neighbours, so a new issue of four is held a little
higher (about 0.02 – 0.04) until it grows; measured, dividing by what a small group can fill
instead let more one-offs in (docs/clustering.md). Among fewer than `SMALLEST_POOL` known traces
there is no evidence at all.
"""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

from services.clustering.domain.similarity import between

NEIGHBOURS = 10
WEIGHT = 0.2
NEUTRAL_SHARE = 0.5
REPEAT = 0.98
"""A trace at least this alike is the same trace again (a retry, a duplicate), not a neighbour:
copies of one conversation would otherwise be each other's whole neighbourhood."""
SMALLEST_POOL = 2 * NEIGHBOURS
"""Fewer known traces than this, and ten neighbours are half of them or more: unrelated traces
share most of theirs, so there is no evidence yet."""
PLACED_KEPT = 500
"""How many of the traces an agent's issues took lately are remembered as neighbours."""


@dataclass
class Neighbourhood:
    """`near`: each waiting trace's nearest traces (ids); `member_of`: the issue of each
    remembered trace in one, updated as traces join issues in the batch."""

    near: dict[str, frozenset[str]] = field(default_factory=dict)
    member_of: dict[str, str] = field(default_factory=dict)
    remembered: Counter = field(default_factory=Counter)
    rows: dict[str, int] = field(default_factory=dict)
    incidence: csr_matrix | None = None
    among: np.ndarray | None = None
    placed_now: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, state) -> "Neighbourhood":
        """The neighbourhood of `state`'s waiting traces, among its waiting and placed traces."""
        pending, placed = state.pending, state.placed
        known = [(p.trace_id, p.vectors, p.digest.terms) for p in pending]
        known += [(p.trace_id, p.vectors, p.terms) for p in placed]
        member_of = {p.trace_id: p.issue_id for p in placed}
        remembered = Counter(member_of.values())
        if len(known) < SMALLEST_POOL or not pending:
            return cls({}, member_of, remembered)
        similar = between(
            [p.vectors for p in pending], [p.digest.terms for p in pending],
            [vectors for _, vectors, _ in known], [terms for _, _, terms in known], state.vocabulary,
        )
        among = similar[:, : len(pending)].copy()
        similar[np.arange(len(pending)), np.arange(len(pending))] = -np.inf
        similar[similar >= REPEAT] = -np.inf
        nearest = np.argsort(-similar, axis=1, kind="stable")[:, :NEIGHBOURS]
        rows, columns = np.nonzero(np.isfinite(np.take_along_axis(similar, nearest, axis=1)))
        columns = nearest[rows, columns]
        ids = [trace_id for trace_id, _, _ in known]
        near = {p.trace_id: frozenset() for p in pending}
        for row, column in zip(rows, columns, strict=True):
            near[pending[row].trace_id] |= {ids[column]}
        incidence = csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(pending), len(known)))
        rows_of = {p.trace_id: row for row, p in enumerate(pending)}
        return cls(near, member_of, remembered, rows_of, incidence, among)

    def similarities_among(self, trace_ids: list[str]) -> np.ndarray | None:
        """The similarities between these waiting traces, when they are the ones the neighbourhood
        was found for, in its order (they were computed then); else None."""
        if self.among is None or list(self.rows) != trace_ids:
            return None
        return self.among.copy()

    def joined(self, trace_id: str, issue_id: str) -> None:
        self.member_of[trace_id] = issue_id
        self.placed_now[trace_id] = issue_id
        self.remembered[issue_id] += 1

    def shared(self, trace_ids: list[str]) -> np.ndarray:
        """The evidence between every two of these waiting traces (0 where one has no neighbours)."""
        evidence = np.zeros((len(trace_ids), len(trace_ids)))
        if self.incidence is None:
            return evidence
        known = [position for position, trace_id in enumerate(trace_ids) if trace_id in self.rows]
        chosen = self.incidence[[self.rows[trace_ids[position]] for position in known]]
        common = (chosen @ chosen.T).toarray()
        evidence[np.ix_(known, known)] = _evidence(common / NEIGHBOURS)
        return evidence

    def toward_issue(self, trace_ids: list[str], issue_id: str, issue_size: int) -> float:
        """The traces' mean evidence for the issue, if the issue is represented among the
        remembered traces; else 0."""
        remembered = self.remembered[issue_id]
        if remembered == 0 or remembered < min(NEIGHBOURS, issue_size):
            return 0.0
        return self._mean(trace_ids, lambda near: sum(self.member_of.get(t) == issue_id for t in near))

    def toward_group(self, trace_id: str, group: set[str]) -> float:
        """A waiting trace's evidence for a group of waiting traces (itself left out)."""
        return self._mean([trace_id], lambda near: len(near & group))

    def _mean(self, trace_ids: list[str], count) -> float:
        shares = [count(near) / NEIGHBOURS for trace_id in trace_ids if (near := self.near.get(trace_id)) is not None]
        return _evidence(float(np.mean(shares))) if shares else 0.0


def _evidence(share: float) -> float:
    return WEIGHT * (share - NEUTRAL_SHARE)
