"""How alike two failing traces are, and how alike a trace is to a group of traces.

The similarity of two traces is the mean, over the aspects both have, of the cosine of their
aspect vectors (0 when they share no aspect). A group is summed aspect by aspect; a trace's
similarity to the group is the mean, over the aspects both have, of the cosine between the
trace's vector and the group's summed vector: its centroid direction.
"""

from dataclasses import dataclass, field

import numpy as np

from services.clustering.domain.embedding import ASPECTS, AspectVectors, unit_rows


def pairwise(vectors: list[AspectVectors]) -> np.ndarray:
    matrices = np.stack([each.matrix for each in vectors])
    present = np.stack([each.present for each in vectors]).astype(np.float32)
    total = np.zeros((len(vectors), len(vectors)), dtype=np.float64)
    shared = np.zeros_like(total)
    for column in range(len(ASPECTS)):
        both = np.outer(present[:, column], present[:, column])
        total += both * (matrices[:, column] @ matrices[:, column].T)
        shared += both
    return np.where(shared > 0, total / np.where(shared == 0, 1, shared), 0.0)


@dataclass
class Centroid:
    """The running sum of a group's aspect vectors and how many members had each aspect."""

    sums: np.ndarray
    counts: np.ndarray
    size: int = 0
    _unit: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls, dimension: int) -> "Centroid":
        return cls(np.zeros((len(ASPECTS), dimension), dtype=np.float64), np.zeros(len(ASPECTS), dtype=np.int64))

    @classmethod
    def of(cls, members: list[AspectVectors]) -> "Centroid":
        centroid = cls.empty(members[0].matrix.shape[1])
        for member in members:
            centroid.add(member)
        return centroid

    def add(self, vectors: AspectVectors) -> None:
        self.sums += vectors.matrix * vectors.present[:, None]
        self.counts += vectors.present
        self.size += 1
        self._unit = None

    def similarity(self, vectors: AspectVectors) -> float:
        return float(self.similarities([vectors])[0])

    def similarities(self, vectors: list[AspectVectors]) -> np.ndarray:
        if self._unit is None:
            self._unit = unit_rows(self.sums)
        matrices = np.stack([each.matrix for each in vectors])
        shared = np.stack([each.present for each in vectors]) & (self.counts > 0)
        cosines = np.einsum("nad,ad->na", matrices, self._unit)
        count = shared.sum(axis=1)
        return np.where(count > 0, (cosines * shared).sum(axis=1) / np.where(count == 0, 1, count), 0.0)

    def cohesion(self, members: list[AspectVectors]) -> float:
        """Mean similarity of each member to the centroid of the others (leave one out)."""
        if len(members) < 2:
            return 0.0
        values = []
        for member in members:
            others = Centroid(self.sums - member.matrix * member.present[:, None], self.counts - member.present)
            values.append(others.similarity(member))
        return float(np.mean(values))

    def to_lists(self) -> dict:
        return {"sums": self.sums.tolist(), "counts": self.counts.tolist(), "size": self.size}

    @classmethod
    def from_lists(cls, data: dict) -> "Centroid":
        return cls(np.asarray(data["sums"], dtype=np.float64), np.asarray(data["counts"], dtype=np.int64),
                   int(data["size"]))
