"""A batch of traces of any agents through clustering, as a `traces.ingested` handler would run it."""

from services.clustering.domain.clustering import BatchOutcome, cluster_batch
from services.clustering.domain.embedding import Embedder, embed_traces
from services.clustering.domain.model import ClusteringSettings, Trace, is_failing
from services.clustering.domain.state import AgentState


def cluster_traces(
    states: dict[str, AgentState], traces: list[Trace], embedder: Embedder, settings: ClusteringSettings
) -> dict[str, BatchOutcome]:
    """Embeds the failing traces (one call to the model) and clusters them agent by agent, in
    the order the agents first appear. `states` gains a state for an agent it lacks."""
    failing = [trace for trace in traces if is_failing(trace, settings.feedback_threshold)]
    vectors = dict(zip((t.id for t in failing), embed_traces(embedder, failing), strict=True))
    outcomes = {}
    for agent_id in dict.fromkeys(trace.agent_id for trace in traces):
        state = states.setdefault(agent_id, AgentState(agent_id))
        batch = [(trace, vectors[trace.id]) for trace in failing if trace.agent_id == agent_id]
        outcome = cluster_batch(state, batch, settings)
        outcome.ignored.extend(t.id for t in traces if t.agent_id == agent_id and t.id not in vectors)
        outcomes[agent_id] = outcome
    return outcomes
