"""How alike two failing traces are, and how alike a trace is to an issue.

Each trace has up to six aspects: four embedded ones and its behaviour (see `embedding.py`),
and the lexical one (see `lexical.py`). The similarity of two traces is the weighted mean,
over the aspects both have, of the cosine between their aspect vectors (`ASPECT_WEIGHTS`: the
feedback comment, the user's own statement of what went wrong, weighs double, the behaviour
one and a half; `LEXICAL_WEIGHT`); 0 when they share none. An issue sums its members' vectors aspect by
aspect and counts their words; a trace's similarity to it is the same mean, taken against
those sums: the centroid's direction.
"""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from services.clustering.domain import lexical
from services.clustering.domain.embedding import ASPECTS, AspectVectors, every_aspect, unit_rows
from services.clustering.domain.labels import Vocabulary

LEXICAL_WEIGHT = 1.0
# question, tool errors, answer, feedback (the user's own words, double), behaviour (what the
# agent did, six facts: 1.5, see docs/clustering.md)
ASPECT_WEIGHTS = np.array([1.0, 1.0, 1.0, 2.0, 1.5])


def _mean(total: np.ndarray, shared: np.ndarray) -> np.ndarray:
    return np.where(shared > 0, total / np.where(shared == 0, 1, shared), 0.0)


def pairwise(vectors: list[AspectVectors], terms: list[tuple[str, ...]], vocabulary: Vocabulary) -> np.ndarray:
    return between(vectors, terms, vectors, terms, vocabulary)


def between(
    rows: list[AspectVectors],
    row_terms: list[tuple[str, ...]],
    columns: list[AspectVectors],
    column_terms: list[tuple[str, ...]],
    vocabulary: Vocabulary,
) -> np.ndarray:
    """The similarity of every trace of `rows` to every trace of `columns`."""
    sides = (rows,) if columns is rows else (rows, columns)
    matrices = [np.stack([each.matrix for each in side]) for side in sides]
    present = [np.stack([each.present for each in side]).astype(np.float64) for side in sides]
    total = np.zeros((len(rows), len(columns)))
    shared = np.zeros_like(total)
    for column in range(len(ASPECTS)):
        both = np.outer(present[0][:, column], present[-1][:, column]) * ASPECT_WEIGHTS[column]
        total += both * (matrices[0][:, column] @ matrices[-1][:, column].T)
        shared += both
    words, has_words = lexical.between(row_terms, column_terms, vocabulary)
    both = np.outer(*has_words) * LEXICAL_WEIGHT
    return _mean(total + both * words, shared + both)


@dataclass
class Centroid:
    """The running sums of a group's aspect vectors, how many members had each aspect, and in
    how many members each word occurs."""

    sums: np.ndarray
    counts: np.ndarray
    words: Counter = field(default_factory=Counter)
    size: int = 0
    entry_sum: float = 0.0
    entry_count: int = 0
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)  # per aspect; None: ASPECT_WEIGHTS
    _unit: np.ndarray | None = field(default=None, repr=False, compare=False)
    _lexical: tuple[int, dict[str, float]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls, dimension: int) -> "Centroid":
        return cls(np.zeros((len(ASPECTS), dimension)), np.zeros(len(ASPECTS), dtype=np.int64))

    @classmethod
    def of(cls, members: list[tuple[AspectVectors, tuple[str, ...]]]) -> "Centroid":
        centroid = cls.empty(members[0][0].matrix.shape[1])
        for vectors, terms in members:
            centroid.add(vectors, terms)
        return centroid

    def add(self, vectors: AspectVectors, terms: tuple[str, ...]) -> None:
        self.sums += vectors.matrix * vectors.present[:, None]
        self.counts += vectors.present
        self.words.update(lexical.words(terms))
        self.size += 1
        self._unit = self._lexical = None

    def record_entry(self, similarity: float) -> None:
        """How similar a member was to the issue when it entered (leave one out for founders)."""
        self.entry_sum += similarity
        self.entry_count += 1

    @property
    def cohesion(self) -> float | None:
        """The mean similarity of the members when they entered; None for an issue made elsewhere."""
        return self.entry_sum / self.entry_count if self.entry_count else None

    def with_vectors(self, sums: np.ndarray, counts: np.ndarray) -> "Centroid":
        """The same group with other vector sums (its words, size and cohesion kept)."""
        return Centroid(sums, counts, Counter(self.words), self.size, self.entry_sum, self.entry_count)

    def without(self, vectors: AspectVectors, terms: tuple[str, ...]) -> "Centroid":
        return Centroid(
            self.sums - vectors.matrix * vectors.present[:, None],
            self.counts - vectors.present,
            self.words - Counter(lexical.words(terms)),
            self.size - 1,
        )

    def similarities(self, members: list[tuple[AspectVectors, tuple[str, ...]]], vocabulary: Vocabulary) -> np.ndarray:
        if self._unit is None:
            self._unit = unit_rows(self.sums)
        matrices = np.stack([vectors.matrix for vectors, _ in members])
        weights = ASPECT_WEIGHTS if self.weights is None else self.weights
        shared = (np.stack([vectors.present for vectors, _ in members]) & (self.counts > 0)) * weights[None, :]
        cosines = np.einsum("nad,ad->na", matrices, self._unit)
        total, count = (cosines * shared).sum(axis=1), shared.sum(axis=1).astype(np.float64)
        if self._lexical is None or self._lexical[0] != vocabulary.documents:
            self._lexical = (vocabulary.documents, lexical.issue_vector(self.words, vocabulary))
        mine = self._lexical[1]
        for row, (_, terms) in enumerate(members):
            theirs = lexical.trace_vector(terms, vocabulary)
            if mine and theirs:
                total[row] += LEXICAL_WEIGHT * lexical.cosine(theirs, mine)
                count[row] += LEXICAL_WEIGHT
        return _mean(total, count)

    def to_lists(self) -> dict:
        return {
            "sums": self.sums.tolist(),
            "counts": self.counts.tolist(),
            "words": dict(self.words),
            "size": self.size,
            "entrySum": self.entry_sum,
            "entryCount": self.entry_count,
        }

    @classmethod
    def from_lists(cls, data: dict) -> "Centroid":
        return cls(
            every_aspect(np.asarray(data["sums"], dtype=np.float64)),
            every_aspect(np.asarray(data["counts"], dtype=np.int64)),
            Counter(data["words"]),
            int(data["size"]),
            float(data.get("entrySum", 0.0)),
            int(data.get("entryCount", 0)),
        )
