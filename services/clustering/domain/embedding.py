"""What of a failing trace is embedded, and the port an embedding model plugs into.

A trace is embedded as four aspects, each on its own: what the user asked (their messages),
the tool errors met on the way, the answer, and the feedback comment. The system prompt is
left out: it is the same for every trace of an agent and would make them all look alike. A
fifth aspect, its behaviour, is read off the trace without a model (see `behaviour.py`).
Two traces are compared aspect by aspect, over the aspects both have (see `similarity.py`),
so a missing comment neither counts against a trace nor for it.
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from services.clustering.domain.behaviour import behaviour_vector, failed_tool_results
from services.clustering.domain.model import Message, Trace

ASPECTS = ("question", "tool_errors", "answer", "feedback", "behaviour")
EMBEDDED = ASPECTS[:4]
BEHAVIOUR = ASPECTS.index("behaviour")
MAX_ASPECT_CHARS = 4000
JSON_PUNCTUATION = re.compile(r'[{}\[\]"]|\\[nt"]')


class Embedder(Protocol):
    """Turns texts into vectors of `dimension` floats; any model (in process, or an
    OpenAI-compatible `/v1/embeddings` endpoint) that does that fits."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class AspectVectors:
    """One unit vector per aspect (rows in `ASPECTS` order; zeros where the trace has none)."""

    matrix: np.ndarray
    present: np.ndarray

    def to_lists(self) -> dict:
        return {"matrix": self.matrix.tolist(), "present": self.present.tolist()}

    @classmethod
    def from_lists(cls, data: dict) -> "AspectVectors":
        return cls(
            every_aspect(np.asarray(data["matrix"], dtype=np.float32)),
            every_aspect(np.asarray(data["present"], dtype=bool)),
        )


def every_aspect(rows: np.ndarray) -> np.ndarray:
    """Rows stored before an aspect was added, with the missing aspects' rows as zeros (not
    present: such a trace or issue is compared over the aspects it has)."""
    missing = len(ASPECTS) - rows.shape[0]
    return np.concatenate([rows, np.zeros((missing, *rows.shape[1:]), dtype=rows.dtype)]) if missing > 0 else rows


def json_values(value: object) -> list[str]:
    if isinstance(value, dict):
        return [text for each in value.values() for text in json_values(each)]
    if isinstance(value, list):
        return [text for each in value for text in json_values(each)]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def tool_error(message: Message) -> str:
    """Which tool failed, and what it said: the values of a JSON result without its keys and
    punctuation, which every tool result of a kind shares (`{"error": "`) and which say
    nothing about the failure."""
    try:
        text = " ".join(json_values(json.loads(message.content)))
    except ValueError:
        text = JSON_PUNCTUATION.sub(" ", message.content)
    text = " ".join(text.split())
    return f"{message.tool_name}: {text}" if message.tool_name else text


def aspect_texts(trace: Trace) -> dict[str, str]:
    """The embedded texts of a trace, by aspect."""
    question = "\n".join(m.content for m in trace.messages if m.role == "user" and m.content.strip())
    tool_errors = "\n".join(tool_error(m) for m in failed_tool_results(trace))
    texts = {
        "question": question,
        "tool_errors": tool_errors,
        "answer": trace.output,
        "feedback": trace.feedback_comment or "",
    }
    return {aspect: " ".join(text.split())[:MAX_ASPECT_CHARS] for aspect, text in texts.items()}


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)


def embed_traces(embedder: Embedder, traces: Sequence[Trace]) -> list[AspectVectors]:
    """Embeds the aspects of many traces in one call to the model, and adds their behaviour
    (see `behaviour.py`; needs no model)."""
    wanted = [
        (row, column, texts[aspect])
        for row, texts in enumerate(aspect_texts(trace) for trace in traces)
        for column, aspect in enumerate(EMBEDDED)
        if texts[aspect]
    ]
    matrices = np.zeros((len(traces), len(ASPECTS), embedder.dimension), dtype=np.float32)
    if wanted:
        vectors = unit_rows(np.asarray(embedder.embed([text for _, _, text in wanted]), dtype=np.float32))
        for (row, column, _), vector in zip(wanted, vectors, strict=True):
            matrices[row, column] = vector
    for row, trace in enumerate(traces):
        matrices[row, BEHAVIOUR] = behaviour_vector(trace, embedder.dimension)
    present = np.any(matrices != 0, axis=2)
    return [AspectVectors(matrices[row], present[row]) for row in range(len(traces))]
