import json
from datetime import UTC, datetime

import bson
import numpy as np
import pytest

from services.clustering.adapters.mongo_repository import _packed, _unpacked
from services.clustering.adapters.wordllama_embedder import WordLlamaEmbedder
from services.clustering.domain.batch import cluster_traces
from services.clustering.domain.embedding import ASPECTS, BEHAVIOUR, AspectVectors, embed_traces
from services.clustering.domain.model import ClusteringSettings, Digest, Message, Trace
from services.clustering.domain.neighbours import NEIGHBOURS, WEIGHT, Neighbourhood
from services.clustering.domain.record import AgentRecord
from services.clustering.domain.state import AgentState, PendingTrace, PlacedTrace

WIDTH = 64
AT = datetime(2026, 12, 1, tzinfo=UTC)


def vectors(direction: int, variant: int | None = None) -> AspectVectors:
    """A question aspect along `direction`; a variant leans towards an axis of its own (0.8 alike
    to another variant, 0.89 to the plain vector: neighbours, not repeats)."""
    matrix = np.zeros((len(ASPECTS), WIDTH), dtype=np.float32)
    matrix[0, direction] = 1.0
    if variant is not None:
        matrix[0, direction + 1 + variant] = 0.5
    matrix[0] /= np.linalg.norm(matrix[0])
    present = np.zeros(len(ASPECTS), dtype=bool)
    present[0] = True
    return AspectVectors(matrix, present)


def waiting(trace_id: str, direction: int, variant: int | None = None) -> PendingTrace:
    return PendingTrace(trace_id, None, AT, vectors(direction, variant), Digest("q", "a"))


def placed(trace_id: str, issue_id: str, direction: int, variant: int | None = None) -> PlacedTrace:
    return PlacedTrace(trace_id, issue_id, vectors(direction, variant), ())


def unrelated(count: int = 30) -> list[PlacedTrace]:
    """Traces of another failure, alike to none of the others: the pool that makes evidence count."""
    return [placed(f"other{n}", "iss_other_failure", 60) for n in range(count)]


def test_a_waiting_traces_nearest_traces_are_its_closest_waiting_and_placed_traces_never_itself():
    state = AgentState("bot", pending=[waiting(f"w{n}", 0, n) for n in range(6)])
    state.placed = [placed(f"p{n}", "iss_a", 0, 6 + n) for n in range(NEIGHBOURS)]
    state.placed += [placed(f"far{n}", "iss_b", 30, n) for n in range(5)]
    state.placed += unrelated()
    hood = Neighbourhood.of(state)
    assert set(hood.near) == {f"w{n}" for n in range(6)}
    for trace_id, near in hood.near.items():
        assert len(near) == NEIGHBOURS and trace_id not in near
        assert not any(other.startswith("far") for other in near)


def test_two_waiting_traces_near_the_same_traces_are_drawn_together_and_two_near_none_in_common_pushed_apart():
    state = AgentState("bot", pending=[waiting("a1", 0, 0), waiting("a2", 0, 1)])
    state.pending += [waiting("b1", 30, 0), waiting("b2", 30, 1)]
    state.placed = [placed(f"pa{n}", "iss_a", 0, 2 + n) for n in range(NEIGHBOURS)]
    state.placed += [placed(f"pb{n}", "iss_b", 30, 2 + n) for n in range(NEIGHBOURS)]
    state.placed += unrelated()
    evidence = Neighbourhood.of(state).shared(["a1", "a2", "b1", "b2"])
    assert evidence[0, 1] == evidence[1, 0] > 0 and evidence[2, 3] > 0
    assert evidence[0, 2] == evidence[1, 3] == pytest.approx(-WEIGHT / 2)


def test_a_trace_whose_nearest_traces_are_an_issues_members_is_drawn_to_that_issue_and_away_from_others():
    state = AgentState("bot", pending=[waiting("new", 0)])
    state.placed = [placed(f"pa{n}", "iss_a", 0, n) for n in range(NEIGHBOURS)]
    state.placed += [placed(f"pb{n}", "iss_b", 30, n) for n in range(NEIGHBOURS)]
    state.placed += unrelated()
    hood = Neighbourhood.of(state)
    assert hood.toward_issue(["new"], "iss_a", 40) == pytest.approx(WEIGHT / 2)
    assert hood.toward_issue(["new"], "iss_b", 40) == pytest.approx(-WEIGHT / 2)


def test_an_issue_too_few_of_whose_members_are_remembered_has_no_evidence_either_way():
    state = AgentState("bot", pending=[waiting("new", 0)])
    state.placed = [placed(f"p{n}", "iss_old", 30, n) for n in range(3)]
    state.placed += [placed(f"q{n}", "iss_other", 0, n) for n in range(NEIGHBOURS)]
    state.placed += unrelated()
    hood = Neighbourhood.of(state)
    assert hood.toward_issue(["new"], "iss_caller", 25) == 0.0
    assert hood.toward_issue(["new"], "iss_old", 25) == 0.0
    assert hood.toward_issue(["new"], "iss_old", 3) < 0
    hood.joined("new", "iss_caller")
    assert hood.remembered["iss_caller"] == 1


def test_among_too_few_traces_there_is_no_evidence():
    state = AgentState("bot", pending=[waiting("a", 0, 0), waiting("b", 30, 0)])
    state.placed = [placed(f"p{n}", "iss_a", 0, 1 + n) for n in range(NEIGHBOURS)]
    state.placed += unrelated(5)
    hood = Neighbourhood.of(state)
    assert hood.near == {} and not hood.shared(["a", "b"]).any()
    assert hood.toward_issue(["a"], "iss_a", NEIGHBOURS) == 0.0


def test_a_repeat_of_a_trace_is_not_its_neighbour():
    state = AgentState("bot", pending=[waiting("new", 0, 0), waiting("retry", 0, 0)])
    state.placed = [placed(f"p{n}", "iss_a", 0, 1 + n) for n in range(NEIGHBOURS + 2)]
    state.placed += unrelated()
    hood = Neighbourhood.of(state)
    assert "retry" not in hood.near["new"] and "new" not in hood.near["retry"]
    assert hood.near["new"] == hood.near["retry"] and len(hood.near["new"]) == NEIGHBOURS


def test_the_remembered_traces_follow_their_issue_and_keep_the_latest():
    state = AgentState("bot")
    state.remember_placed([placed(f"p{n}", "clu_key", 0) for n in range(4)], kept=3)
    assert [p.trace_id for p in state.placed] == ["p1", "p2", "p3"]
    state.rename_issue("clu_key", "iss_1")
    assert {p.issue_id for p in state.placed} == {"iss_1"}
    document = json.loads(json.dumps(state.to_document(), default=str))
    restored = AgentState.from_document(document)
    assert [(p.trace_id, p.issue_id, p.terms) for p in restored.placed] == [
        (p.trace_id, p.issue_id, ()) for p in state.placed
    ]
    assert np.allclose(restored.placed[0].vectors.matrix, state.placed[0].vectors.matrix)
    state.remove_issue("iss_1")
    assert state.placed == []


def test_another_embedding_model_forgets_the_remembered_traces():
    state = AgentState("bot", model="wordllama-256")
    state.placed = [placed("p0", "iss_1", 0)]
    assert state.adopt("text-embedding-3-small", 1536)
    assert state.placed == []


def test_a_state_stored_before_traces_were_remembered_reads_with_none():
    document = AgentState("bot").to_document()
    del document["placed"]
    assert AgentState.from_document(document).placed == []


def test_the_traces_a_batch_puts_in_issues_are_remembered_with_their_issue():
    traces = [
        Trace(f"t{n}", "bot", f"c{n}", AT, (Message("user", question),), "The return window is 14 days.", "ok", 0.1,
              "the policy is 30 days")
        for n, question in enumerate([
            "Can I return the jacket delivered 18 days ago?", "My boots came three weeks ago, can I send them back?",
            "How long do I have to return a sweater?", "Returning a tent bought 20 days ago, still possible?",
        ])
    ]
    states = {}
    [outcome] = cluster_traces(states, traces, WordLlamaEmbedder(), ClusteringSettings(min_cluster_size=3)).values()
    [issue] = outcome.proposed
    assert {(p.trace_id, p.issue_id) for p in states["bot"].placed} == {(t, issue.key) for t in issue.trace_ids}


def test_behaviour_read_by_other_facts_is_emptied_and_every_other_aspect_kept():
    state = AgentState("bot", pending=[waiting("w0", 0, 0)], placed=[placed("p0", "iss_1", 0, 1)])
    for trace in (*state.pending, *state.placed):
        trace.vectors.matrix[BEHAVIOUR, :2] = 0.7
        trace.vectors.present[BEHAVIOUR] = True
    assert state.read_facts(2)
    for trace in (*state.pending, *state.placed):
        assert not trace.vectors.matrix[BEHAVIOUR].any() and not trace.vectors.present[BEHAVIOUR]
        assert trace.vectors.present[0] and trace.vectors.matrix[0].any()
    assert state.facts == 2 and not state.read_facts(2)
    assert AgentState.from_document(json.loads(json.dumps(state.to_document(), default=str))).facts == 2
    assert not AgentState("new").read_facts(2)


def test_a_trace_that_comes_back_while_remembered_waits_and_is_remembered_once_at_most():
    embedder = WordLlamaEmbedder()
    earlier = [Trace(f"t{n}", "bot", f"c{n}", AT, (Message("user", f"Question {n} about order {n}"),), "Done.", "error")
               for n in range(30)]
    comeback = Trace("t0", "bot", "c0", AT, (Message("user", "Where is my refund?"),), "It is on its way.", "error")
    state = AgentState("bot", placed=[PlacedTrace(t.id, "iss_old", v, ())
                                      for t, v in zip(earlier, embed_traces(embedder, earlier), strict=True)])
    for _ in range(3):
        cluster_traces({"bot": state}, [comeback], embedder, ClusteringSettings())
    assert [p.trace_id for p in state.pending] == ["t0"]
    assert [p.trace_id for p in state.placed].count("t0") == 0 and len(state.placed) == 29


def test_traces_a_callers_issue_takes_are_no_longer_remembered_with_a_clustering_issue():
    record = AgentRecord.new("ws", "bot")
    record.state.placed = [placed("taken", "iss_clu", 0, 0), placed("kept", "iss_clu", 0, 1)]
    record.forget_pending({"taken"})
    assert [p.trace_id for p in record.state.placed] == ["kept"]


def test_remembered_traces_survive_the_stores_packing():
    state = AgentState("bot", placed=[placed("p0", "iss_1", 0, 1)])
    document = bson.decode(bson.encode(_packed(state.to_document())))
    restored = AgentState.from_document(_unpacked(document))
    assert restored.placed[0].trace_id == "p0" and restored.placed[0].issue_id == "iss_1"
    assert np.array_equal(restored.placed[0].vectors.matrix, state.placed[0].vectors.matrix)
