"""The OTLP span buffer on the real store (the MongoDB wire server the tests start): spans kept
once with their dotted attribute keys, traces leased to one sweeper, nothing kept after assembly."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.traces.adapters.mongo_span_buffer import MongoSpanBuffer
from services.traces.domain.otlp import decode_export
from tests.support.agent_runs import gen_ai_run
from tests.support.otel import Recorder, hex_trace_id, protobuf

_now = datetime.now(UTC)
NOW = _now.replace(microsecond=_now.microsecond // 1000 * 1000)
"""The real time (documents expire a day after it), to the millisecond the store keeps."""


@pytest.fixture
async def buffer(scratch_database):
    spans = MongoSpanBuffer(scratch_database["otlp_spans"], scratch_database["otlp_waiting"])
    await spans.ensure_indexes()
    return spans


def recorded_spans():
    recorder = Recorder()
    root = gen_ai_run(recorder)
    return hex_trace_id(root), decode_export(protobuf(recorder.finished()), "application/x-protobuf").spans


async def test_spans_are_kept_once_and_read_back_as_they_were_sent(buffer):
    trace_id, spans = recorded_spans()
    children = [span for span in spans if span.parent_span_id is not None]
    assert await buffer.add("ws", children, NOW, "corr-1", "key_1") == {trace_id: False}
    assert await buffer.add("ws", spans, NOW, "corr-2", "key_1") == {trace_id: True}
    assert await buffer.add("ws", spans, NOW, "corr-3", "key_1") == {trace_id: True}
    kept = sorted(await buffer.spans_of("ws", trace_id), key=lambda span: span.span_id)
    assert kept == sorted(spans, key=lambda span: span.span_id)
    assert any("gen_ai.input.messages" in span.attributes for span in kept)
    assert await buffer.spans_of("another-ws", trace_id) == []


async def test_concurrent_exports_of_one_new_trace_all_keep_their_spans(buffer):
    trace_id, spans = recorded_spans()
    answers = await asyncio.gather(*(buffer.add("ws", [span], NOW, f"corr-{n}", None) for n, span in enumerate(spans)))
    assert all(trace_id in answer for answer in answers)
    assert len(await buffer.spans_of("ws", trace_id)) == len(spans)


async def test_a_quiet_trace_is_leased_to_one_sweeper_at_a_time(buffer):
    trace_id, spans = recorded_spans()
    await buffer.add("ws", spans, NOW, "corr-1", "key_1")
    assert await buffer.claim_quiet(NOW, NOW, 60, 10) == []
    later = NOW + timedelta(seconds=31)
    [claimed] = await buffer.claim_quiet(later - timedelta(seconds=30), later, 60, 10)
    assert (claimed.workspace, claimed.trace_id, claimed.correlation_id, claimed.actor) == (
        "ws", trace_id, "corr-1", "key_1")
    assert claimed.last_arrival == NOW
    assert await buffer.claim_quiet(later, later, 60, 10) == []
    after_lease = later + timedelta(seconds=61)
    assert len(await buffer.claim_quiet(after_lease, after_lease, 60, 10)) == 1


async def test_after_assembly_the_spans_are_dropped_and_spans_sent_later_are_not_kept(buffer):
    trace_id, spans = recorded_spans()
    await buffer.add("ws", spans, NOW, "corr-1", None)
    await buffer.mark_assembled("ws", trace_id)
    assert await buffer.spans_of("ws", trace_id) == []
    assert await buffer.add("ws", spans, NOW + timedelta(seconds=1), "corr-2", None) == {}
    assert await buffer.spans_of("ws", trace_id) == []
    later = NOW + timedelta(hours=1)
    assert await buffer.claim_quiet(later, later, 60, 10) == []


async def test_a_trace_assembled_without_being_kept_is_known_as_assembled(buffer):
    trace_id, spans = recorded_spans()
    assert await buffer.state("ws", trace_id) == "new"
    await buffer.mark_assembled("ws", trace_id)
    assert await buffer.state("ws", trace_id) == "assembled"
    assert await buffer.add("ws", spans, NOW, "corr-1", None) == {}
    assert await buffer.spans_of("ws", trace_id) == []
    other_id, others = recorded_spans()
    await buffer.add("ws", others[:1], NOW, "corr-2", None)
    assert await buffer.state("ws", other_id) == "waiting"
