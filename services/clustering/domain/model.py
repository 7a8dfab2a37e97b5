"""What clustering sees of a trace and of an issue, and the settings of a workspace."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Message:
    """`tool_name`: on a tool message, the tool whose result it is (from the assistant's call)."""

    role: str
    content: str
    tool_name: str | None = None


@dataclass(frozen=True)
class Trace:
    """A trace as clustering needs it: the conversation (`messages`, system prompt left out),
    the answer, and what tells whether it failed."""

    id: str
    agent_id: str
    customer_id: str | None
    timestamp: datetime
    messages: tuple[Message, ...]
    output: str
    status: str = "ok"
    feedback_score: float | None = None
    feedback_comment: str | None = None


@dataclass(frozen=True)
class ClusteringSettings:
    """Per-workspace settings.

    - `similarity_threshold`: how similar (aspect-averaged cosine, see `similarity.py`) a failing
      trace must be to an issue's centroid to join it, or to match a closed issue (regression).
    - `cluster_similarity`: the average pairwise similarity that the traces waiting for an issue
      need to form a new cluster (average linkage). Lower than `similarity_threshold`, because
      two members of a cluster are less alike than a member and the cluster's centroid.
    - `min_cluster_size`: the fewest traces that make a new issue; smaller groups wait.
    - `feedback_threshold`: a trace whose `feedback.score` is below it fails, as does every
      trace with `status: error`.
    - `max_pending`: how many traces wait per agent; the oldest are dropped beyond it.
    """

    enabled: bool = True
    similarity_threshold: float = 0.35
    cluster_similarity: float = 0.3
    min_cluster_size: int = 4
    feedback_threshold: float = 0.5
    max_pending: int = 1000

    def __post_init__(self):
        for name in ("similarity_threshold", "cluster_similarity"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.min_cluster_size < 2:
            raise ValueError("min_cluster_size must be at least 2")
        if self.max_pending < self.min_cluster_size:
            raise ValueError("max_pending must be at least min_cluster_size")


def is_failing(trace: Trace, feedback_threshold: float) -> bool:
    """`status: error`, or a feedback score below the workspace's threshold."""
    if trace.status == "error":
        return True
    return trace.feedback_score is not None and trace.feedback_score < feedback_threshold


@dataclass(frozen=True)
class Digest:
    """The words of a trace kept for labelling its cluster later (what it asked, answered,
    the tool errors and the feedback), without the embeddings."""

    question: str
    answer: str
    tool_errors: str = ""
    feedback: str = ""
    status: str = "ok"
    terms: tuple[str, ...] = field(default=())
