"""The lexical aspect: the words a failing trace shares with others of its agent, weighted by
how rare they are among the agent's failing traces (TF-IDF with binary term frequency).

It catches what averaged static embeddings blur: a mode whose traces all say "visa" or
"prorated" in different sentences. A word seen in a single trace weighs nothing (it can match
nothing, and would only dilute the others). The weights follow the agent's vocabulary as it
grows, so they are computed when compared, from the terms kept with each trace and issue.
"""

import math
from collections import Counter

import numpy as np
from scipy.sparse import csr_matrix

from services.clustering.domain.labels import Vocabulary


def words(terms: tuple[str, ...]) -> list[str]:
    return [term for term in terms if " " not in term]


def idf(vocabulary: Vocabulary, term: str) -> float:
    frequency = vocabulary.frequencies.get(term, 0)
    return 1 + math.log((1 + vocabulary.documents) / (1 + frequency)) if frequency >= 2 else 0.0


def _unit(weights: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {term: w / norm for term, w in weights.items()} if norm else {}


def trace_vector(terms: tuple[str, ...], vocabulary: Vocabulary) -> dict[str, float]:
    return _unit({term: idf(vocabulary, term) for term in words(terms)})


def issue_vector(counts: Counter, vocabulary: Vocabulary) -> dict[str, float]:
    return _unit({term: uses * idf(vocabulary, term) for term, uses in counts.items()})


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(weight * b.get(term, 0.0) for term, weight in a.items())


def between(
    rows: list[tuple[str, ...]], columns: list[tuple[str, ...]], vocabulary: Vocabulary
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Cosines between the lexical vectors of the `rows` traces and the `columns` traces, and
    which traces of each side have one (the same list on both sides is read once)."""
    index: dict[str, int] = {}
    sides = []
    for term_lists in (rows,) if columns is rows else (rows, columns):
        vectors = [trace_vector(terms, vocabulary) for terms in term_lists]
        entries, cols, values = [], [], []
        for row, vector in enumerate(vectors):
            for term, weight in vector.items():
                entries.append(row)
                cols.append(index.setdefault(term, len(index)))
                values.append(weight)
        sides.append((vectors, entries, cols, values))
    width = max(len(index), 1)
    matrices = [csr_matrix((values, (entries, cols)), shape=(len(vectors), width))
                for vectors, entries, cols, values in sides]
    has = [np.array([bool(vector) for vector in side[0]]) for side in sides]
    return (matrices[0] @ matrices[-1].T).toarray(), (has[0], has[-1])
