"""What a failing trace did, as opposed to what it was about: a few telling facts read off
its structure, the same for every agent, that topic embeddings do not see. Two traces about
different claims fail alike when both answered "filed" after the tool failed; a user who asks
for a person asks in a hundred words.

Read from what a `traces.ingested` event carries of a trace (its user and tool messages, the
assistant's tool calls, the answer), so the same facts in every path. The facts a trace shows
make a unit vector, compared by cosine like an embedded aspect (see `similarity.py`); a trace
that shows none has no behaviour aspect, so that the many ordinary failures do not look alike
for what they lack.
"""

import json
import re

import numpy as np

from services.clustering.domain.changes import makes_a_change, says_yes
from services.clustering.domain.language import in_another_language
from services.clustering.domain.model import Message, Trace

TOOL_ERROR = re.compile(
    r"error|exception|traceback|time(d)?[ _-]?out|failed|unavailable|denied|refused|\b(rejected|declined)\b", re.I
)
ACKNOWLEDGED = re.compile(
    r"\b(unable|couldn'?t|could not|can'?t|cannot|not able|wasn'?t able|error|try again|failed|unavailable|"
    r"isn'?t working|not working|isn'?t responding|not responding|timed out|went wrong|trouble|"
    r"(did ?n[o']t|hasn'?t|has not) (go|gone) through|"
    r"(was|is|'s|seems to be|ran into|hit|had|having) (a |an |some )?(technical )?(problem|issue|glitch|hiccup)s?)\b",
    re.I,
)
"""Words an answer that owns up to a failure uses ("there was a problem", not "sorry for the
problem"); "sorry" alone is not one of them: "sorry it arrived cold, I've refunded you" is the
answer of an agent that went on as if the refund had worked."""
IDENTIFIER = re.compile(
    r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+|[A-Za-z0-9]{6,})\b|\b\d{6,}\b"
)
COUNTED_WORD = re.compile(
    r"\d{1,4}-(?:minute|hour|day|night|week|month|year|business|calendar|working|inch|foot|seat|person|star|"
    r"point|step|digit|page|item|piece|pack|gb|tb|mb)s?(?:-[a-z]+)*|top-\d{1,3}",
    re.I,
)
"""A count joined to its unit ("30-day", "100-night", "24-hour", "top-10") is not an identifier;
a code such as "tkt-481" or "4821-ab" still is."""
ASKS_FOR_PERSON = re.compile(
    r"\b(human|real person|a person|someone|somebody|representative|rep|an agent|live agent|manager|supervisor|"
    r"transfer|connect me|speak (to|with)|talk (to|with)|call me|"
    r"humain|une personne|conseill[eè]re?|quelqu'un|"
    r"mensch|menschen|mitarbeiter(in)?|jemand(en)?|"
    r"humano|una persona|alguien|uma pessoa|atendente|alguém)\b",
    re.I,
)

FACTS_VERSION = 2
"""Raised whenever a fact is added or read differently: behaviour vectors read another way are
not comparable (see `AgentState.read_facts`)."""
FACTS = (
    "went on as if a failed tool had worked",
    "no answer",
    "answer gives an identifier said nowhere before",
    "user asked for a person",
    "made a change the user had not said yes to",
    "answered in another language than the user's",
)


def failed_tool_results(trace: Trace) -> list[Message]:
    """The tool results that read as errors (error, exception, timeout, failed …)."""
    return [m for m in trace.messages if m.role == "tool" and m.content and TOOL_ERROR.search(what_it_says(m.content))]


def what_it_says(result: str) -> str:
    """What a tool result says of itself: a JSON object's keys and plain values at its top level
    (`{"error": …}`, `"status": "rejected"`, `"stderr": "ERROR: …"`, a list of warnings), not the
    records it reports (`"last_scan": {"event": "Delivery failed"}` is a parcel's history, the
    lookup worked); any other result whole."""
    try:
        parsed = json.loads(result)
    except ValueError:
        return result
    if isinstance(parsed, list):
        return ""
    if not isinstance(parsed, dict):
        return result
    said = []
    for key, value in parsed.items():
        said.append(str(key))
        values = value if isinstance(value, list) else [value]
        said.extend(str(each) for each in values if isinstance(each, str | int | float) and not isinstance(each, bool))
    return " ".join(said)


def facts_of(trace: Trace) -> list[bool]:
    failed = bool(failed_tool_results(trace))
    said = " ".join(m.content for m in trace.messages if m.role in ("user", "tool"))
    user = " ".join(m.content for m in trace.messages if m.role == "user")
    answer = trace.output.strip()
    return [
        failed and bool(answer) and not ACKNOWLEDGED.search(answer),
        not answer,
        any(identifier not in said and not COUNTED_WORD.fullmatch(identifier)
            for identifier in IDENTIFIER.findall(answer)),
        bool(ASKS_FOR_PERSON.search(user)),
        changed_unagreed(trace),
        in_another_language(answer, user),
    ]


def changed_unagreed(trace: Trace) -> bool:
    """A call that makes a change (see `changes.py`) after a user message that says no yes
    (yes, go ahead, confirm …): it acted on something it should have confirmed first."""
    last_user = ""
    for message in trace.messages:
        if message.role == "user":
            last_user = message.content
        elif (message.role == "assistant" and makes_a_change(message.tool_name or "", message.content, last_user)
              and not says_yes(last_user)):
            return True
    return False


def behaviour_vector(trace: Trace, dimension: int) -> np.ndarray:
    """The facts as a unit vector of `dimension` floats (the first few; zeros after); all
    zeros when the trace shows none."""
    vector = np.zeros(dimension, dtype=np.float32)
    values = np.array(facts_of(trace), dtype=np.float32)
    norm = np.linalg.norm(values)
    if norm:
        vector[: len(values)] = values / norm
    return vector
