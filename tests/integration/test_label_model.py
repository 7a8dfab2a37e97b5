"""New issues named by an OpenAI-compatible chat model, over real HTTP (the demo model's
`label-model`), and titled from their distinctive terms when that model fails."""

import aiohttp
import pytest
from structlog.testing import capture_logs

from deploy.local.demo_model import LABEL_MODEL, Fault
from services.clustering import bootstrap, handlers
from services.clustering.adapters.chat_namer import ChatIssueNamer
from services.clustering.adapters.wordllama_embedder import WordLlamaEmbedder
from services.clustering.ports import NamingFailed
from services.clustering.settings import ClusteringServiceSettings
from shared.contracts.envelope import Envelope
from shared.store.documents import ConcurrentUpdate
from tests.support.failure_modes import batch
from tests.unit.clustering_fakes import FakeAgentRecords, FakeIssues, FakeManualTraces, FakeSettings, ingested

EMBEDDER = WordLlamaEmbedder()
ASK = [{"role": "user", "content": "Distinctive terms: seat, map\nExamples (as JSON): []"}]


def delivery(message_id: str, traces: list[dict]):
    event = ingested(traces)
    envelope = Envelope(message_id=message_id, type=event.routing_key, workspace="ws", correlation_id="corr-label",
                        payload=event.to_wire())
    return event, envelope


async def clustered(namer, traces, records=None):
    issues = FakeIssues()
    deps = bootstrap.build(FakeSettings(), records or FakeAgentRecords(), FakeManualTraces(), issues, EMBEDDER,
                           namer=namer)
    event, envelope = delivery("evt-label", traces)
    await handlers.on_traces_ingested(event, envelope, deps)
    return deps, issues, event, envelope


def label_calls(fake_model) -> list[dict]:
    return [call for call in fake_model.calls if call["model"] == LABEL_MODEL]


@pytest.fixture
def asked(fake_model):
    """How many times the label model was asked since the test began (the model is the session's)."""
    before = len(label_calls(fake_model))
    return lambda: len(label_calls(fake_model)) - before


async def test_the_label_model_titles_and_describes_new_issues_and_the_automatic_description_follows(fake_model, asked):
    async with aiohttp.ClientSession() as http:
        namer = ChatIssueNamer(http, fake_model.url, LABEL_MODEL, "sk-label")
        traces = batch(12, "named", modes=("invoice_tool_error", "seatmap_timeout"))
        deps, issues, event, envelope = await clustered(namer, traces)

        created = issues.created()
        assert len(created) == 2
        for issue in created:
            assert issue["title"] == f"Agent fails on {issue['tags'][0]}"
            told, automatic = issue["description"].split("\n\n")
            assert told == "Summary by the label model: Named by the demo label model from 5 examples."
            assert automatic.startswith("12 failing traces of this agent fail alike")
            assert "Distinctive terms: " in automatic and "A representative trace:" in automatic
        assert asked() == 2

        await handlers.on_traces_ingested(event, envelope, deps)
        assert asked() == 2 and len(issues.created()) == 2


class ConflictOnce(FakeAgentRecords):
    """Another handler saves the record in between, once: the batch is clustered again."""

    def __init__(self):
        super().__init__()
        self.conflicts = 0

    async def save(self, record):
        if not self.conflicts:
            self.conflicts += 1
            raise ConcurrentUpdate(record.agent_id)
        await super().save(record)


async def test_a_retry_after_a_concurrent_update_does_not_ask_the_model_again(fake_model, asked):
    records = ConflictOnce()
    async with aiohttp.ClientSession() as http:
        namer = ChatIssueNamer(http, fake_model.url, LABEL_MODEL)
        _, issues, _, _ = await clustered(namer, batch(12, "conflict", modes=("seatmap_timeout",)), records)
    assert records.conflicts == 1 and asked() == 1
    assert [issue["title"] for issue in issues.created()] == [f"Agent fails on {issues.created()[0]['tags'][0]}"]


async def test_an_issue_the_label_model_fails_to_name_keeps_its_automatic_title(fake_model, asked):
    fake_model.fail("Distinctive terms", *[Fault(status=503)] * 3, Fault(body="not a completion"))
    async with aiohttp.ClientSession() as http:
        namer = ChatIssueNamer(http, fake_model.url, LABEL_MODEL, timeout=5)
        traces = batch(12, "unnamed", modes=("invoice_tool_error", "seatmap_timeout"))
        with capture_logs() as logs:
            _, issues, _, _ = await clustered(namer, traces)

    titles = sorted(issue["title"] for issue in issues.created())
    assert len(titles) == 2 and not any(title.startswith("Agent fails on") for title in titles)
    assert any("InvoiceServiceError" in title for title in titles)
    assert asked() == 4
    failures = [entry["error"] for entry in logs if entry["event"].startswith("the label model did not name")]
    assert len(failures) == 2 and any("HTTP 503" in error for error in failures)
    assert any("not JSON" in error for error in failures)


@pytest.mark.parametrize(
    "faults, calls, cause",
    [
        ([Fault(status=400, body="model not found")], 1, "HTTP 400: model not found"),
        ([Fault(status=429), Fault(status=408)], 3, None),
        ([Fault(drop=True)] * 3, 3, "failed"),
        ([Fault(body='{"choices": []}')], 1, "no chat completion"),
        ([Fault(body='{"choices": [{"message": {"content": null}}]}')], 1, "without text"),
        ([Fault(delay=1.5)] * 3, 3, "no answer within 0.5s"),
    ],
)
async def test_what_the_namer_retries_and_what_it_gives_up_on(fake_model, asked, faults, calls, cause):
    fake_model.fail("Distinctive terms", *faults)
    async with aiohttp.ClientSession() as http:
        namer = ChatIssueNamer(http, fake_model.url, LABEL_MODEL, timeout=0.5)
        if cause is None:
            assert "Agent fails on seat" in await namer.complete(ASK)
        else:
            with pytest.raises(NamingFailed, match=cause):
                await namer.complete(ASK)
    assert asked() == calls


async def test_a_model_that_keeps_failing_is_left_alone_for_a_while(fake_model, asked):
    fake_model.fail("Distinctive terms", *[Fault(status=400)] * 2)
    async with aiohttp.ClientSession() as http:
        namer = ChatIssueNamer(http, fake_model.url, LABEL_MODEL, trip_after=2, cool_off=60)
        for _ in range(2):
            with pytest.raises(NamingFailed, match="HTTP 400"):
                await namer.complete(ASK)
        with pytest.raises(NamingFailed, match="not asked: .* failed 2 times in a row"):
            await namer.complete(ASK)
    assert asked() == 2


def test_without_a_label_model_url_no_model_names_issues_and_a_url_must_be_http():
    assert bootstrap.label_model(ClusteringServiceSettings(), None) is None
    with pytest.raises(ValueError, match="http:// or https://"):
        ClusteringServiceSettings(label_model_base_url="localhost:8089/v1")
