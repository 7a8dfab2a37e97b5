"""`metadata.clusterConfidence`: how alike the members of a cluster are, in [0, 1]."""

from services.clustering.domain.embedding import AspectVectors
from services.clustering.domain.similarity import Centroid


def cluster_confidence(members: list[AspectVectors]) -> float:
    """The mean similarity of each member to the centroid of the other members (leave one
    out, aspect-averaged cosine as everywhere in clustering), clipped to [0, 1] and rounded
    to 3 places. 1 means identical failures; a value near the workspace's similarity threshold
    means a loose group whose members only just resemble each other. It does not say how far
    the cluster is from the agent's other issues."""
    value = Centroid.of(members).cohesion(members)
    return round(min(1.0, max(0.0, value)), 3)
