"""One batch of an agent's traces through clustering: join an issue, reopen one, or wait, and
the waiting traces that have found company become proposed issues.

Deterministic: the same state and the same traces in the same order give the same outcome.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from services.clustering.domain.behaviour import FACTS, failed_tool_results
from services.clustering.domain.confidence import cluster_confidence
from services.clustering.domain.embedding import BEHAVIOUR, AspectVectors, aspect_texts
from services.clustering.domain.labels import Vocabulary, description_for, distinctive_terms, terms_of, title_for
from services.clustering.domain.model import ClusteringSettings, Digest, Trace, is_failing
from services.clustering.domain.neighbours import PLACED_KEPT, Neighbourhood
from services.clustering.domain.severity import severity_for
from services.clustering.domain.similarity import ASPECT_WEIGHTS, Centroid, pairwise
from services.clustering.domain.state import AgentState, IssueProfile, PendingTrace, PlacedTrace

DIGEST_CHARS = 1500
EXAMPLES = 5
COHESION_RATIO = 0.6
LOOSE_TOLERANCE = 0.03
DEFINING_SHARE = 0.8
"""A behaviour fact that at least this share of an issue's members show defines the issue."""


@dataclass(frozen=True)
class Placement:
    trace_id: str
    issue_id: str
    similarity: float


@dataclass(frozen=True)
class ProposedIssue:
    """A new issue to create; `key` is stable for the same members, for idempotent creation.
    `facts`: the description's first paragraph (volume, customers, dates, confidence);
    `examples`: the members' digests most like the cluster, the representative first (what a
    language model is shown to name the issue, see `naming.py`)."""

    key: str
    agent_id: str
    trace_ids: list[str]
    title: str
    description: str
    tags: list[str]
    severity: str
    cluster_confidence: float
    affected_customers: int
    first_seen_at: datetime
    last_seen_at: datetime
    facts: str = ""
    examples: tuple[Digest, ...] = ()


@dataclass
class BatchOutcome:
    """`assigned`: traces that joined an issue that is not closed; `regressed`: traces that
    matched only a closed issue, which is reopened; `proposed`: new issues; `pending`: trace
    ids still waiting; `dropped`: waited longest and were let go (beyond `max_pending`);
    `ignored`: not failing, or already waiting."""

    assigned: list[Placement] = field(default_factory=list)
    regressed: list[Placement] = field(default_factory=list)
    proposed: list[ProposedIssue] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def digest_of(trace: Trace) -> Digest:
    """What is kept to label a cluster: the aspects' texts (the tool errors as the tools said
    them), and the terms of what is embedded."""
    texts = {aspect: text[:DIGEST_CHARS] for aspect, text in aspect_texts(trace).items()}
    return Digest(
        texts["question"],
        texts["answer"],
        "\n".join(m.content for m in failed_tool_results(trace))[:DIGEST_CHARS],
        texts["feedback"],
        trace.status,
        terms_of(*texts.values()),
    )


def nearest(
    state: AgentState,
    issues: list[IssueProfile],
    members: list[tuple[AspectVectors, tuple[str, ...]]],
    hood: Neighbourhood | None = None,
    member_ids: list[str] | None = None,
) -> tuple[IssueProfile | None, float]:
    """The issue the members are most similar to on average, with the evidence of their
    nearest traces (see `neighbours.py`), and that similarity."""
    if not issues:
        return None, 0.0
    scores = [
        float(np.mean(issue.centroid.similarities(members, state.vocabulary)))
        + (hood.toward_issue(member_ids, issue.id, issue.centroid.size) if hood and member_ids else 0.0)
        for issue in issues
    ]
    best = int(np.argmax(scores))
    return issues[best], scores[best]


def matching_closed_issue(
    state: AgentState, vectors: AspectVectors, terms: tuple[str, ...], settings: ClusteringSettings
) -> IssueProfile | None:
    """The closed issue this trace's failure is (by the same similarity as joining an open
    one), if any: when it comes back, the issue has regressed."""
    issue, score = nearest(state, [issue for issue in state.issues if issue.closed], [(vectors, terms)])
    if issue is None or not admits(issue, score, settings) or lacks_defining_fact(issue.centroid, vectors, settings):
        return None
    return issue


def cluster_batch(
    state: AgentState,
    traces: list[tuple[Trace, AspectVectors]],
    settings: ClusteringSettings,
) -> BatchOutcome:
    """Runs a batch of one agent's traces (with their embeddings) through clustering,
    updating `state` in place. A trace already waiting is ignored; the caller passes each
    trace once otherwise (a trace already in an issue is the caller's to leave out). Traces of
    another agent are a programming error."""
    outcome = BatchOutcome()
    waiting = {pending.trace_id for pending in state.pending}
    for trace, vectors in traces:
        if trace.agent_id != state.agent_id:
            raise ValueError(f"trace {trace.id} is of agent {trace.agent_id}, not {state.agent_id}")
        if trace.id in waiting or not is_failing(trace, settings.feedback_threshold):
            outcome.ignored.append(trace.id)
            continue
        digest = digest_of(trace)
        state.vocabulary.add(digest.terms)
        state.remember(vectors)
        state.pending.append(PendingTrace(trace.id, trace.customer_id, trace.timestamp, vectors, digest))
        waiting.add(trace.id)
    state.placed = [placed for placed in state.placed if placed.trace_id not in waiting]
    hood = Neighbourhood.of(state)
    waited = {pending.trace_id: pending for pending in state.pending}
    if len(state.pending) >= settings.min_cluster_size:
        state.pending = _cluster(state, settings, outcome, hood)
    state.pending = _place(state, state.pending, settings, outcome, hood)
    state.remember_placed(
        [PlacedTrace(trace_id, issue_id, waited[trace_id].vectors, waited[trace_id].digest.terms)
         for trace_id, issue_id in hood.placed_now.items()],
        PLACED_KEPT,
    )
    excess = len(state.pending) - settings.max_pending
    if excess > 0:
        outcome.dropped = [pending.trace_id for pending in state.pending[:excess]]
        state.pending = state.pending[excess:]
    outcome.pending = [pending.trace_id for pending in state.pending]
    return outcome


def admits(issue: IssueProfile, score: float, settings: ClusteringSettings, floor: float | None = None) -> bool:
    """Similar enough to the issue: at least `similarity_threshold` (or `floor`), and at least
    `COHESION_RATIO` of how similar its members were when they entered it, so that a tight
    issue does not take a trace its members would not recognise."""
    cohesion = issue.centroid.cohesion
    floor = settings.similarity_threshold if floor is None else floor
    return score >= max(floor, COHESION_RATIO * (cohesion or 0.0))


def lacks_defining_fact(group: Centroid, vectors: AspectVectors, settings: ClusteringSettings) -> bool:
    """An issue (or cluster) of at least `min_cluster_size` members most of which show a behaviour fact
    (`behaviour.py`; the mean of their behaviour vectors at that fact is `DEFINING_SHARE` or
    more) is that behaviour's failure: a trace that does not show it is a near miss about the
    same things (the reference was real but on the wrong transaction, beside invented
    references), not a member, however alike their words."""
    if group.size < settings.min_cluster_size:
        return False
    shares = group.sums[BEHAVIOUR, : len(FACTS)] / group.size
    shown = vectors.matrix[BEHAVIOUR, : len(FACTS)] > 0
    return bool(np.any((shares >= DEFINING_SHARE) & ~shown))


def _join(
    issue: IssueProfile, members: list[PendingTrace], similarity: float, outcome: BatchOutcome, hood: Neighbourhood
) -> None:
    placements = outcome.regressed if issue.closed else outcome.assigned
    if issue.closed:
        issue.status = "open"
    for member in members:
        issue.centroid.add(member.vectors, member.digest.terms)
        issue.centroid.record_entry(similarity)
        hood.joined(member.trace_id, issue.id)
        placements.append(Placement(member.trace_id, issue.id, round(similarity, 3)))


def _place(
    state: AgentState,
    candidates: list[PendingTrace],
    settings: ClusteringSettings,
    outcome: BatchOutcome,
    hood: Neighbourhood,
) -> list[PendingTrace]:
    """Each candidate joins the nearest issue that is not closed, else the nearest closed one,
    when similar enough and showing the issue's defining behaviour, if it has one; the others are
    returned, still waiting."""
    left = []
    for candidate in candidates:
        for issues in ([i for i in state.issues if not i.closed], [i for i in state.issues if i.closed]):
            issue, score = nearest(state, issues, [candidate.sighting], hood, [candidate.trace_id])
            if (issue is not None and admits(issue, score, settings)
                    and not lacks_defining_fact(issue.centroid, candidate.vectors, settings)):
                _join(issue, [candidate], score, outcome, hood)
                break
        else:
            left.append(candidate)
    return left


def background(state: AgentState) -> Centroid | None:
    """All the agent's failing traces as one group: what a trace of this agent resembles when
    it resembles nothing in particular (its domain, its tone, how its users write). Each aspect
    weighs by the share of the agent's failing traces that have it: an aspect only one failure
    has (one tool's errors, the comments of the few users who write one) is that failure's, not
    the agent's, and must not make the failure look like its own background."""
    if state.common is None:
        return None
    common = state.common
    words = Counter({term: uses for term, uses in state.vocabulary.frequencies.items() if " " not in term})
    share = common.counts / max(common.size, 1)
    return Centroid(common.sums, common.counts, words, common.size, weights=ASPECT_WEIGHTS * share)


def _average_linkage(pending: list[PendingTrace], distances: np.ndarray, similarity: float) -> list[list[PendingTrace]]:
    labels = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=1 - similarity
    ).fit_predict(distances)
    groups: dict[int, list[PendingTrace]] = {}
    for label, member in zip(labels, pending, strict=True):
        groups.setdefault(int(label), []).append(member)
    return list(groups.values())


def _groups(
    pending: list[PendingTrace],
    vocabulary: Vocabulary,
    settings: ClusteringSettings,
    agent: Centroid | None,
    hood: Neighbourhood,
) -> list[tuple[list[PendingTrace], bool]]:
    """Average-linkage clusters of the waiting traces, each pruned (least similar first) to
    the members as similar to the centroid of the others as a trace must be to join an issue;
    those of at least `min_cluster_size`. Then the loose clusters among the traces left (see
    `_loose`). Each group comes with whether it is loose."""
    minimum = settings.min_cluster_size
    similar = hood.similarities_among([p.trace_id for p in pending])
    if similar is None:
        similar = pairwise([p.vectors for p in pending], [p.digest.terms for p in pending], vocabulary)
    distances = np.clip(1 - similar - hood.shared([p.trace_id for p in pending]), 0, 2)
    np.fill_diagonal(distances, 0)
    clusters = _average_linkage(pending, distances, settings.cluster_similarity)
    found = [group for group in (_pruned(g, vocabulary, settings, hood) for g in clusters) if len(group) >= minimum]
    taken = {member.trace_id for group in found for member in group}
    left = [row for row, member in enumerate(pending) if member.trace_id not in taken]
    if agent is None or len(left) < minimum:
        return [(group, False) for group in found]
    rest, among = [pending[row] for row in left], distances[np.ix_(left, left)]
    loose = _average_linkage(rest, among, settings.cluster_similarity / 2)
    kept = [group for group in (_loose(g, vocabulary, agent) for g in loose) if len(group) >= minimum]
    return [(group, False) for group in found] + [(group, True) for group in kept]


def _loose(group: list[PendingTrace], vocabulary: Vocabulary, agent: Centroid) -> list[PendingTrace]:
    """A loose cluster (average similarity at least half `cluster_similarity`): a failure its
    traces put in different words (a nut allergy, coeliac, dairy; a human, a representative,
    a manager), less alike than `cluster_similarity` asks, but more alike to each other than
    to the agent's failing traces at large. Pruned (least distinctive first) to the members
    at least as similar to the centroid of the others as to the agent's `background`, within
    `LOOSE_TOLERANCE`; a trace that resembles everything of its agent (a one-off) is let go."""
    group = list(group)
    while len(group) >= 2:
        sightings = [member.sighting for member in group]
        inside = np.array(_entries(Centroid.of(sightings), sightings, vocabulary))
        lifts = inside - agent.similarities(sightings, vocabulary)
        worst = int(np.argmin(lifts))
        if lifts[worst] >= -LOOSE_TOLERANCE:
            break
        group.pop(worst)
    return group


def _pruned(
    group: list[PendingTrace], vocabulary: Vocabulary, settings: ClusteringSettings, hood: Neighbourhood | None = None
) -> list[PendingTrace]:
    """The group without its least similar members, down to those as similar to the centroid of
    the others as a trace must be to join an issue; then without the members that lack a
    behaviour fact that defines the rest (see `lacks_defining_fact`)."""
    group, hood = list(group), hood or Neighbourhood()
    while len(group) >= settings.min_cluster_size:
        centroid = Centroid.of([member.sighting for member in group])
        ids = {member.trace_id for member in group}
        scores = [centroid.without(*m.sighting).similarities([m.sighting], vocabulary)[0]
                  + hood.toward_group(m.trace_id, ids) for m in group]
        worst = int(np.argmin(scores))
        others = (sum(scores) - scores[worst]) / (len(scores) - 1)
        if scores[worst] >= max(settings.similarity_threshold, COHESION_RATIO * others):
            break
        group.pop(worst)
    if len(group) < settings.min_cluster_size:
        return group
    return [member for member in group if not lacks_defining_fact(centroid, member.vectors, settings)]


def _cluster(
    state: AgentState, settings: ClusteringSettings, outcome: BatchOutcome, hood: Neighbourhood
) -> list[PendingTrace]:
    """Clusters the waiting traces; a cluster as similar to an existing issue as a trace must
    be to join it goes into that issue, any other becomes a proposed issue. A loose cluster,
    already shown to stand out from its agent's failures, needs only `cluster_similarity` to
    the issue (the similarity at which traces form a cluster at all): the second half of a
    loose failure then joins the first instead of making a second issue. Returns the traces
    still waiting."""
    grouped: set[str] = set()
    for group, loose in _groups(state.pending, state.vocabulary, settings, background(state), hood):
        grouped.update(member.trace_id for member in group)
        sightings = [member.sighting for member in group]
        floor = settings.cluster_similarity if loose else None
        for issues in ([i for i in state.issues if not i.closed], [i for i in state.issues if i.closed]):
            issue, score = nearest(state, issues, sightings, hood, [member.trace_id for member in group])
            if issue is not None and admits(issue, score, settings, floor):
                _join(issue, group, score, outcome, hood)
                break
        else:
            proposed = _propose(state, group, settings)
            centroid = Centroid.of(sightings)
            ids = {member.trace_id for member in group}
            for member, value in zip(group, _entries(centroid, sightings, state.vocabulary), strict=True):
                centroid.record_entry(value + hood.toward_group(member.trace_id, ids))
                hood.joined(member.trace_id, proposed.key)
            state.issues.append(IssueProfile(proposed.key, "open", centroid))
            outcome.proposed.append(proposed)
    return [pending for pending in state.pending if pending.trace_id not in grouped]


def _entries(centroid: Centroid, sightings: list, vocabulary: Vocabulary) -> list[float]:
    """Each member's similarity to the centroid of the others (leave one out)."""
    return [float(centroid.without(*each).similarities([each], vocabulary)[0]) for each in sightings]


def issue_key(agent_id: str, trace_ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join([agent_id, *trace_ids]).encode()).hexdigest()
    return f"clu_{digest[:24]}"


def _propose(state: AgentState, group: list[PendingTrace], settings: ClusteringSettings) -> ProposedIssue:
    sightings = [member.sighting for member in group]
    typicality = Centroid.of(sightings).similarities(sightings, state.vocabulary)
    representative = group[int(np.argmax(typicality))]
    digests = [member.digest for member in group]
    terms = distinctive_terms(digests, state.vocabulary)
    customers = {member.customer_id for member in group if member.customer_id}
    first, last = min(m.timestamp for m in group), max(m.timestamp for m in group)
    errors = sum(d.status == "error" for d in digests)
    confidence = cluster_confidence(sightings, state.vocabulary)
    facts = (
        f"{len(group)} failing traces of this agent fail alike ({errors} with status error, "
        f"{len(group) - errors} rated below {settings.feedback_threshold:g}), from {len(customers)} customers, "
        f"first seen {first:%Y-%m-%d %H:%M} UTC, last seen {last:%Y-%m-%d %H:%M} UTC. "
        f"Found by clustering; cluster confidence {confidence:.2f}."
    )
    trace_ids = [member.trace_id for member in group]
    return ProposedIssue(
        key=issue_key(state.agent_id, trace_ids),
        agent_id=state.agent_id,
        trace_ids=trace_ids,
        title=title_for(digests, representative.digest, terms),
        description=description_for(digests, representative.digest, terms, facts),
        tags=[term[:64] for term in terms],
        severity=severity_for(len(group), len(customers)),
        cluster_confidence=confidence,
        affected_customers=len(customers),
        first_seen_at=first,
        last_seen_at=last,
        facts=facts,
        examples=tuple(group[row].digest for row in np.argsort(-typicality, kind="stable")[:EXAMPLES]),
    )
