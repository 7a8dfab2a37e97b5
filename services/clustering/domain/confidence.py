"""`metadata.clusterConfidence`: how alike the members of a cluster are, in [0, 1]."""

import numpy as np

from services.clustering.domain.embedding import AspectVectors
from services.clustering.domain.labels import Vocabulary
from services.clustering.domain.similarity import Centroid


def cluster_confidence(members: list[tuple[AspectVectors, tuple[str, ...]]], vocabulary: Vocabulary) -> float:
    """The mean similarity of each member to the centroid of the other members (leave one
    out; the similarity used everywhere in clustering, see `similarity.py`), clipped to [0, 1]
    and rounded to 3 places. 1 means identical failures; near the workspace's similarity
    threshold, a loose group whose members only just resemble each other. It does not say how
    far the cluster is from the agent's other issues."""
    if len(members) < 2:
        return 0.0
    centroid = Centroid.of(members)
    values = [centroid.without(*member).similarities([member], vocabulary)[0] for member in members]
    return round(min(1.0, max(0.0, float(np.mean(values)))), 3)
