"""A new issue's title and description from a language model, when one is configured: the
request made of the cluster (what the model is shown) and the reading of its reply. Without a
model, or when its reply is unusable, the issue keeps the title and description `labels.py`
made; a model never changes the facts (volume, customers, dates, confidence), which are
appended to its description as they were computed."""

import json
import re
from dataclasses import replace

from services.clustering.domain.clustering import ProposedIssue
from services.clustering.domain.labels import shorten
from services.clustering.domain.model import Digest

EXAMPLE_CHARS = 400
MAX_TITLE = 120
MAX_DESCRIPTION = 2000
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")

INSTRUCTIONS = (
    "You name groups of failing conversations of an AI agent for an issue tracker. All the "
    "conversations of a group failed in the same way. Reply with one JSON object and nothing "
    'else: {"title": "...", "description": "..."}. The title says what fails, in at most 12 '
    "words and without a final period, the way an engineer files a bug: the agent's behaviour "
    'and what it is about (for example "Claims reported as filed when file_claim failed"). '
    "The description, two to four sentences, says what the agent did wrong, what its users met, "
    "and what the conversations have in common. Use only what the examples show; invent no "
    "numbers, names or causes."
)


def naming_request(proposed: ProposedIssue, agent_name: str | None) -> list[dict]:
    """The chat messages that ask for a title and a description of the proposed issue."""
    lines = [
        f"Agent: {agent_name or proposed.agent_id}",
        proposed.facts,
        f"Distinctive terms: {', '.join(proposed.tags) or 'none'}",
        f"Automatic title: {proposed.title}",
        "",
        "Examples:",
    ]
    for number, example in enumerate(proposed.examples, 1):
        lines.append(f"{number}.")
        lines.extend(f"   {label}: {shorten(text, EXAMPLE_CHARS)}" for label, text in _parts(example) if text)
    return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": "\n".join(lines)}]


def _parts(example: Digest) -> list[tuple[str, str]]:
    return [
        ("User", example.question),
        ("Tool error", example.tool_errors),
        ("Agent answered", example.answer or "(no answer)"),
        ("User feedback", example.feedback),
    ]


def named(proposed: ProposedIssue, reply: str) -> ProposedIssue:
    """The proposed issue with the title and description of the model's reply. Raises
    `ValueError` when the reply is not a JSON object with a non-empty text `title`."""
    text = FENCE.sub("", reply.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the reply holds no JSON object")
    try:
        answer = json.loads(text[start : end + 1])
    except ValueError as error:
        raise ValueError(f"the reply's JSON does not parse: {error}") from None
    title = answer.get("title") if isinstance(answer, dict) else None
    if not isinstance(title, str) or not " ".join(title.split()):
        raise ValueError("the reply has no title")
    description = answer.get("description")
    description = " ".join(description.split()) if isinstance(description, str) else ""
    title = shorten(" ".join(title.split()).rstrip("."), MAX_TITLE)
    told = shorten(description, MAX_DESCRIPTION)
    return replace(proposed, title=title, description=f"{told}\n\n{proposed.facts}" if told else proposed.description)
