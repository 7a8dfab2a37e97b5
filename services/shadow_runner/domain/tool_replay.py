"""Replaying an agent's run: the model asks for tools, the trace's recorded steps answer.

`ToolReplay` drives the loop without doing I/O: it gives the next request (the conversation so
far, the tools offered), takes the model's reply, and answers each tool call it asks for from
`RecordedSteps`, until the model answers without tool calls (`answered`), asks for a call that
nothing answers (`diverged`), or has been asked `max_steps` times (`step_limit`).

How a call is matched to a recorded step (docs/replay.md):
1. The same tool name and the same arguments text, exactly, among the steps not used yet.
2. Else the same tool name and the same arguments as canonical JSON (keys sorted, no
   whitespace), among the steps not used yet.
3. Else, a call identical (by canonical JSON) to one this replay already answered from a step
   gets that step's result again (`repeated`): a recorded step is used once, but a tool called
   again with the same arguments answers as it did.
4. Else the fix's `toolStubs` for that tool name (`stub`).
5. Else nothing answers it: the replay has diverged from the recorded run and stops there.
Among several steps that match, the earliest recorded is used. Parallel calls (one reply asking
for several) are answered in the order the model asked for them, each matched on its own.
"""

import json
from dataclasses import dataclass, field, replace
from typing import Any

from services.shadow_runner.domain.replay import AskedCall, ChatRequest
from shared.contracts.agent_steps import ToolStep, as_text
from shared.contracts.fixes import ToolStub
from shared.contracts.shadow_tests import DivergedCall, Replay, ReplayedCall, ReplayOutcome, StepSource
from shared.contracts.traces import Trace


def canonical(arguments: str) -> str | None:
    """The arguments as canonical JSON, or None when they are not JSON."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Answer:
    source: StepSource
    result: Any
    error: str | None
    recorded_call_id: str | None = None

    @property
    def content(self) -> str:
        """What the model is sent in the tool message."""
        if self.result is not None:
            return as_text(self.result)
        return self.error or ""


class RecordedSteps:
    """The trace's steps, each used at most once, and the fix's stubs."""

    def __init__(self, steps: list[ToolStep], stubs: dict[str, ToolStub] | None = None,
                 written: dict[str, str] | None = None):
        """`written`: the arguments text each recorded call id was written with in the conversation."""
        written = written or {}
        self._steps = steps
        self._texts = [written.get(step.call_id or "", step.arguments_text()) for step in steps]
        self._canonical = [canonical(text) for text in self._texts]
        self._used = [False] * len(steps)
        self._answered: dict[tuple[str, str], int] = {}
        self._stubs = stubs or {}

    @classmethod
    def of(cls, trace: Trace, stubs: dict[str, ToolStub]) -> "RecordedSteps":
        written = {call.id: call.function.arguments for message in trace.input for call in message.tool_calls or ()}
        return cls(trace.steps, stubs, written)

    def answer(self, call: AskedCall) -> Answer | None:
        """The answer to this call, or None when nothing answers it (see the module's docstring)."""
        wanted = canonical(call.arguments)
        index = self._unused(call.name, lambda i: self._texts[i] == call.arguments)
        if index is None and wanted is not None:
            index = self._unused(call.name, lambda i: self._canonical[i] == wanted)
        key = (call.name, wanted if wanted is not None else call.arguments)
        if index is not None:
            self._used[index] = True
            self._answered[key] = index
            return self._recorded(index, "recorded")
        if key in self._answered:
            return self._recorded(self._answered[key], "repeated")
        if (stub := self._stubs.get(call.name)) is not None:
            return Answer("stub", stub.result, stub.error)
        return None

    @property
    def steps(self) -> list[ToolStep]:
        return self._steps

    def _unused(self, name: str, same) -> int | None:
        return next((i for i, step in enumerate(self._steps) if not self._used[i] and step.name == name and same(i)),
                    None)

    def _recorded(self, index: int, source: StepSource) -> Answer:
        step = self._steps[index]
        error = step.error if step.status == "error" else None
        if step.status == "error" and error is None and step.result is None:
            error = "the tool failed"
        return Answer(source, step.result, error, step.call_id)


@dataclass
class ToolReplay:
    """One trace's replay loop (see the module's docstring): `next_request()` until it is None,
    giving each reply to `took`."""

    request: ChatRequest
    recorded: RecordedSteps
    max_steps: int
    messages: list[dict[str, Any]] = field(init=False)
    steps: list[ReplayedCall] = field(default_factory=list)
    model_calls: int = 0
    outcome: ReplayOutcome | None = None
    answer: str | None = None
    diverged_at: AskedCall | None = None

    def __post_init__(self) -> None:
        self.messages = list(self.request.messages)
        self._turn = 0

    def next_request(self) -> ChatRequest | None:
        if self.outcome is not None:
            return None
        if self.model_calls >= self.max_steps:
            self.outcome = "step_limit"
            return None
        return replace(self.request, messages=list(self.messages))

    def took(self, text: str, calls: list[AskedCall]) -> None:
        self.model_calls += 1
        if not calls:
            self.outcome, self.answer = "answered", text
            return
        turn, self._turn = self._turn, self._turn + 1
        self.messages.append({"role": "assistant", "content": text or None, "tool_calls": [
            {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in calls]})
        for call in calls:
            answer = self.recorded.answer(call)
            if answer is None:
                self.outcome, self.diverged_at = "diverged", call
                return
            self.steps.append(ReplayedCall(
                turn=turn, call_id=call.call_id, name=call.name, arguments=call.arguments, source=answer.source,
                recorded_call_id=answer.recorded_call_id, result=answer.result,
                status="error" if answer.error is not None else "ok", error=answer.error))
            self.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": answer.content})

    def failed(self) -> None:
        """The model gave no usable reply: the replay ends, errored."""
        self.outcome = "errored"

    def transcript(self) -> Replay:
        diverged = self.diverged_at
        return Replay(
            outcome=self.outcome or "errored", model_calls=self.model_calls, steps=self.steps,
            diverged_at=DivergedCall(name=diverged.name, arguments=diverged.arguments) if diverged else None,
            final_answer=self.answer,
        )

    def divergence(self) -> str:
        call = self.diverged_at
        return (f"Diverged: the fixed agent called {call.name}({call.arguments}), which the original run never made "
                f"(no recorded step matches it and the fix has no toolStub for {call.name}); the replay stopped "
                f"after {len(self.steps)} answered tool call{'' if len(self.steps) == 1 else 's'}")
