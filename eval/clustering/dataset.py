"""The labelled traces: `traces.jsonl` (development), `heldout.jsonl` (written before any
tuning, of other failure modes and freshly written traces, but looked at while tuning since),
`fresh.jsonl` (new agents and domains, written before any tuning against it), `blind.jsonl` (an insurance
claims assistant and a pharmacy refill assistant, written blind: never scored while writing it and never tuned
against), `blind2.jsonl` (a mobile-carrier support assistant and a property-management tenant assistant, written
blind the same way, never scored) and `blind3.jsonl` (a university student-services assistant, a hotel front-desk
assistant and a desktop-app license assistant, written blind the same way), `blind4.jsonl` (food-delivery support, bank
card services and HR/payroll) and `blind5.jsonl` (e-commerce returns, car rental and a cloud-console assistant that
runs commands), both written blind by writers who never saw the clustering code, and `blind6.jsonl` (airline
miles, a gas and electricity supplier, clinic appointments), written the same way and scored once, at the end of
the session that made the six-fact behaviour aspect, and `blind7.jsonl` (home fibre broadband, a parcel courier, a
veterinary hospital), written the same way and scored once before the change it was to check, and `blind8.jsonl` (a gym
chain, event ticketing, a tax-filing helper), written the same way and scored once at the end of the session that
added shared nearest neighbours; one trace a line in
the API's trace format plus `mode`: the failure mode it shows, or null for a one-off failure or a passing trace."""

import json
from datetime import datetime
from pathlib import Path

from services.clustering.domain.model import Message, Trace
from services.traces.domain.failures import failing_trace

FOLDER = Path(__file__).parent
SETS = {
    "dev": FOLDER / "traces.jsonl",
    "heldout": FOLDER / "heldout.jsonl",
    "fresh": FOLDER / "fresh.jsonl",
    "blind": FOLDER / "blind.jsonl",
    "blind2": FOLDER / "blind2.jsonl",
    "blind3": FOLDER / "blind3.jsonl",
    "blind4": FOLDER / "blind4.jsonl",
    "blind5": FOLDER / "blind5.jsonl",
    "blind6": FOLDER / "blind6.jsonl",
    "blind7": FOLDER / "blind7.jsonl",
    "blind8": FOLDER / "blind8.jsonl",
}


def records(name: str) -> list[dict]:
    with SETS[name].open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def messages_of(conversation: list[dict]) -> tuple[Message, ...]:
    """The messages as a `traces.ingested` event carries them (`services.traces.domain.failures`,
    budgets included): user and tool messages (a tool result naming the tool that was called)
    and the assistant's tool calls (the tool, its arguments); no system prompt, none of the
    assistant's words."""
    carried = failing_trace({"id": "eval", "status": "error", "input": conversation})
    return tuple(Message(m.role, m.content, m.tool_name) for m in carried.messages)


def as_trace(record: dict) -> Trace:
    feedback = record.get("feedback") or {}
    return Trace(
        id=record["id"],
        agent_id=record["agentId"],
        customer_id=record.get("customerId"),
        timestamp=datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")),
        messages=messages_of(record["input"]),
        output=record["output"],
        status=record.get("status", "ok"),
        feedback_score=feedback.get("score"),
        feedback_comment=feedback.get("comment"),
    )


def labelled(name: str) -> tuple[list[Trace], dict[str, str | None]]:
    """The traces in arrival (timestamp) order, and trace id → mode."""
    rows = sorted(records(name), key=lambda r: r["timestamp"])
    return [as_trace(r) for r in rows], {r["id"]: r["mode"] for r in rows}
