"""New issues named by an OpenAI-compatible chat model, over real HTTP (the demo model's
`label-model`), and titled from their distinctive terms when that model fails."""

import aiohttp
from structlog.testing import capture_logs

from deploy.local.demo_model import LABEL_MODEL, Fault
from services.clustering import bootstrap, handlers
from services.clustering.adapters.chat_namer import ChatIssueNamer
from services.clustering.adapters.wordllama_embedder import WordLlamaEmbedder
from services.clustering.settings import ClusteringServiceSettings
from shared.contracts.envelope import Envelope
from tests.support.failure_modes import batch
from tests.unit.clustering_fakes import FakeAgentRecords, FakeIssues, FakeManualTraces, FakeSettings, ingested

EMBEDDER = WordLlamaEmbedder()


def delivery(message_id: str, traces: list[dict]):
    event = ingested(traces)
    envelope = Envelope(message_id=message_id, type=event.routing_key, workspace="ws", correlation_id="corr-label",
                        payload=event.to_wire())
    return event, envelope


async def clustered(namer, traces, message_id="evt-label"):
    issues = FakeIssues()
    deps = bootstrap.build(FakeSettings(), FakeAgentRecords(), FakeManualTraces(), issues, EMBEDDER, namer=namer)
    event, envelope = delivery(message_id, traces)
    await handlers.on_traces_ingested(event, envelope, deps)
    return deps, issues, event, envelope


async def test_the_label_model_titles_and_describes_new_issues_and_the_facts_stay(fake_model):
    async with aiohttp.ClientSession() as http:
        namer = ChatIssueNamer(http, fake_model.url, LABEL_MODEL, "sk-label")
        traces = batch(12, "named", modes=("invoice_tool_error", "seatmap_timeout"))
        deps, issues, event, envelope = await clustered(namer, traces)

        created = issues.created()
        assert len(created) == 2
        for issue in created:
            assert issue["title"].startswith("Agent fails on ") and not issue["title"].endswith(".")
            first, facts = issue["description"].split("\n\n")
            assert first == "Named by the demo label model from 5 examples."
            assert facts.startswith("12 failing traces of this agent fail alike") and "cluster confidence" in facts
        asked = [call for call in fake_model.calls if call["model"] == LABEL_MODEL]
        assert len(asked) == 2
        assert "Distinctive terms: " in asked[0]["messages"][1]["content"]

        await handlers.on_traces_ingested(event, envelope, deps)
        assert len([call for call in fake_model.calls if call["model"] == LABEL_MODEL]) == 2
        assert len(issues.created()) == 2


async def test_an_issue_the_label_model_fails_to_name_keeps_its_automatic_title(fake_model):
    fake_model.fail("Distinctive terms", *[Fault(status=503)] * 3, Fault(body="not a completion"))
    async with aiohttp.ClientSession() as http:
        namer = ChatIssueNamer(http, fake_model.url, LABEL_MODEL, timeout=5)
        traces = batch(12, "unnamed", modes=("invoice_tool_error", "seatmap_timeout"))
        with capture_logs() as logs:
            _, issues, _, _ = await clustered(namer, traces)

    titles = sorted(issue["title"] for issue in issues.created())
    assert len(titles) == 2 and not any(title.startswith("Agent fails on") for title in titles)
    assert any("InvoiceServiceError" in title for title in titles)
    failures = [entry for entry in logs if entry["event"].startswith("the label model did not name")]
    assert len(failures) == 2
    assert {"HTTP 503" in entry["error"] or "not JSON" in entry["error"] for entry in failures} == {True}


def test_without_a_label_model_url_no_model_names_issues():
    assert bootstrap.label_model(ClusteringServiceSettings(), None) is None
