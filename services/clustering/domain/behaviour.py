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

import re

import numpy as np

from services.clustering.domain.language import in_another_language
from services.clustering.domain.model import Message, Trace

TOOL_ERROR = re.compile(
    r"error|exception|traceback|time(d)?[ _-]?out|failed|unavailable|denied|refused|rejected|declined", re.I
)
ACKNOWLEDGED = re.compile(
    r"\b(unable|couldn'?t|could not|can'?t|cannot|not able|wasn'?t able|error|try again|failed|unavailable|"
    r"isn'?t working|not working|isn'?t responding|not responding|timed out|went wrong|trouble|"
    r"(did ?n[o']t|hasn'?t|has not) (go|gone) through)",
    re.I,
)
"""Words an answer that owns up to a failure uses; "sorry" alone is not one of them: "sorry it
arrived cold, I've refunded you" is the answer of an agent that went on as if the refund had worked."""
IDENTIFIER = re.compile(
    r"\b(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])(?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+|[A-Za-z0-9]{6,})\b|\b\d{6,}\b"
)
COUNTED_WORD = re.compile(r"\d+(?:-[a-z]+)+|[a-z]+(?:-[a-z]+)*-\d{1,3}")
"""A number joined to words ("30-day", "100-night", "top-10") is not an identifier."""
ASKS_FOR_PERSON = re.compile(
    r"\b(human|real person|a person|someone|somebody|representative|rep|an agent|live agent|manager|supervisor|"
    r"transfer|connect me|speak (to|with)|talk (to|with)|call me|"
    r"humain|une personne|conseill[eè]re?|quelqu'un|"
    r"mensch|menschen|mitarbeiter(in)?|jemand(en)?|"
    r"humano|una persona|alguien|uma pessoa|atendente|alguém)\b",
    re.I,
)

CHANGES = re.compile(
    r"(?<![a-z])(cancel|delete|remove|drop|destroy|terminate|block|freeze|lock|suspend|disable|deactivate|modify|"
    r"update|change|edit|reset|revoke|charge|close|purge|wipe|kill|rollback|overwrite|withdraw|unenroll|enroll|"
    r"register|rebook|reschedule|scale|restart|stop|replace|detach|resize|rm|truncate|switch|downgrade|upgrade|"
    r"revert|migrate|archive|unsubscribe|format|flush|reissue)(?![a-z])",
    re.I,
)
"""Verbs of a tool call that changes something (in its name, or in its arguments: a command
line), as opposed to one that looks something up."""
GO_AHEAD = re.compile(
    r"\b(yes|yeah|yep|yup|confirm(ed)?|go ahead|do it|please do|ok|okay|sure|correct|that's right|that one|"
    r"exactly|right|oui|d'accord|ja|genau|sí|si|vale|claro|sim)\b",
    re.I,
)
NOT_AGREED = re.compile(r"(\bnot|n't|\bno|\bnever)\s+(\w+\s+)?(sure|ok|okay|right|correct|confirm(ed)?)\b", re.I)
""""Not sure", "don't confirm": the words of agreement, negated."""

FACTS = (
    "went on as if a failed tool had worked",
    "no answer",
    "answer gives an identifier said nowhere before",
    "user asked for a person",
    "changed something the user had not agreed to",
    "answered in another language than the user's",
)


def failed_tool_results(trace: Trace) -> list[Message]:
    """The tool results that read as errors (error, exception, timeout, failed …)."""
    return [m for m in trace.messages if m.role == "tool" and m.content and TOOL_ERROR.search(m.content)]


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
    """A call that changes something (see `CHANGES`) that the user's last word before it does
    not agree to (yes, go ahead, confirm …): it acted on a request it should have confirmed."""
    last_user = ""
    for message in trace.messages:
        if message.role == "user":
            last_user = message.content
        elif (message.role == "assistant" and CHANGES.search(f"{message.tool_name or ''} {message.content}")
              and not GO_AHEAD.search(NOT_AGREED.sub(" ", last_user))):
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
