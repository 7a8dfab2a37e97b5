"""The OpenAI-compatible embeddings endpoint as the clustering model, over real HTTP (the demo
model's /v1/embeddings)."""

import numpy as np
import pytest

from deploy.local.demo_model import EMBEDDING_DIMENSION, Fault
from services.clustering import bootstrap, handlers
from services.clustering.adapters.http_embedder import HttpEmbedder
from services.clustering.settings import ClusteringServiceSettings
from shared.contracts.envelope import Envelope
from shared.contracts.errors import Unavailable
from tests.support.failure_modes import batch, mode_of
from tests.unit.clustering_fakes import FakeAgentRecords, FakeIssues, FakeManualTraces, FakeSettings, ingested


def test_the_configured_endpoint_replaces_the_in_process_model(fake_model):
    settings = ClusteringServiceSettings(embeddings_base_url=fake_model.url, embeddings_model="demo-embeddings")
    embedder = bootstrap.load_embedder(settings)
    assert isinstance(embedder, HttpEmbedder) and embedder.dimension == EMBEDDING_DIMENSION

    vectors = embedder.embed(["the seat map timed out", "seat map timed out again", "refund went to store credit"])
    assert vectors.shape == (3, EMBEDDING_DIMENSION)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]
    assert fake_model.calls[-1]["model"] == "demo-embeddings"


async def test_failing_traces_are_clustered_with_the_endpoint_and_its_failure_is_retried(fake_model):
    embedder = HttpEmbedder(fake_model.url, "demo-embeddings")
    issues = FakeIssues()
    deps = bootstrap.build(FakeSettings(), FakeAgentRecords(), FakeManualTraces(), issues, embedder)
    traces = batch(12, "http", modes=("invoice_tool_error", "seatmap_timeout"))
    event = ingested(traces)
    envelope = Envelope(message_id="evt-http", type=event.routing_key, workspace="ws", correlation_id="c",
                        payload=event.to_wire())

    fake_model.fail("InvoiceServiceError", Fault(status=503))
    with pytest.raises(Unavailable):
        await handlers.on_traces_ingested(event, envelope, deps)
    await handlers.on_traces_ingested(event, envelope, deps)

    assert issues.created()
    assert all(len({mode_of(t) for t in issue["traceIds"]}) == 1 for issue in issues.created())
