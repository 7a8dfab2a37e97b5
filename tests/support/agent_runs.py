"""One agent run, recorded in each GenAI dialect with the real OpenTelemetry SDK.

Weather Bot is asked about Paris and London. It asks for the weather in Paris (it rains, 14°C),
then in London (the weather service times out), and answers. Times are milliseconds after
`T0`; every dialect records the same run, so every mapping must give the same trace.
"""

import json
from collections.abc import Sequence

from opentelemetry.trace import Span

from tests.support.otel import Recorder, at

QUESTION = "Should I take an umbrella in Paris tomorrow? And in London?"
SYSTEM = "You are Weather Bot. Look the weather up with get_weather before you answer."
ANSWER = "Take an umbrella in Paris: rain, 14°C. I could not get London's weather, so take one there too."
PARIS, LONDON = {"city": "Paris"}, {"city": "London"}
PARIS_WEATHER = {"sky": "rain", "celsius": 14}
TIMEOUT = TimeoutError("weather service timed out")
WEATHER_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "The weather tomorrow in a city",
                "parameters": WEATHER_PARAMETERS}
TOOL_TIMES = {"call_paris": (950, 1200), "call_london": (2050, 3050)}


def gen_ai_run(recorder: Recorder, structured: bool = False, evaluations: Sequence[dict] = ()) -> Span:
    """The current GenAI semantic conventions: an `invoke_agent` span, `chat` spans with
    `gen_ai.input.messages` / `gen_ai.output.messages` made of parts, `execute_tool` spans;
    `evaluations`: attributes of `gen_ai.evaluation.result` events recorded on the agent span."""
    value = (lambda item: item) if structured else json.dumps
    root = recorder.start("invoke_agent Weather Bot", 0, {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai", "gen_ai.agent.id": "agent_weather",
        "gen_ai.agent.name": "Weather Bot", "gen_ai.request.model": "gpt-4o-mini", "user.id": "cust_42",
        "session.id": "sess_1", "gen_ai.conversation.id": "conv_7"})
    user = {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}
    ask_paris = {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_paris", "name": "get_weather",
                                                 "arguments": PARIS}], "finish_reason": "tool_call"}
    paris = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_paris", "response": PARIS_WEATHER}]}
    ask_london = {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_london", "name": "get_weather",
                                                  "arguments": LONDON}], "finish_reason": "tool_call"}
    london = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_london", "response": str(TIMEOUT)}]}
    final = {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}

    def chat(start: int, end: int, sent: list, reply: dict, tokens: tuple[int, int]) -> None:
        recorder.span("chat gpt-4o-mini", start, end, {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 300, "gen_ai.usage.input_tokens": tokens[0],
            "gen_ai.usage.output_tokens": tokens[1],
            "gen_ai.system_instructions": value([{"type": "text", "content": SYSTEM}]),
            "gen_ai.tool.definitions": value([WEATHER_TOOL]),
            "gen_ai.input.messages": value(sent), "gen_ai.output.messages": value([reply])}, root)

    def tool(call_id: str, arguments: dict, result=None, error: Exception | None = None) -> None:
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
                      "gen_ai.tool.call.id": call_id, "gen_ai.tool.call.arguments": value(arguments)}
        if result is not None:
            attributes["gen_ai.tool.call.result"] = value(result)
        else:
            attributes["error.type"] = type(error).__name__
        recorder.span("execute_tool get_weather", *TOOL_TIMES[call_id], attributes, root, error=error)

    chat(100, 900, [user], ask_paris, (120, 18))
    tool("call_paris", PARIS, result=PARIS_WEATHER)
    chat(1250, 2000, [user, ask_paris, paris], ask_london, (160, 18))
    tool("call_london", LONDON, error=TIMEOUT)
    chat(3100, 4000, [user, ask_paris, paris, ask_london, london], final, (190, 30))
    for index, attributes in enumerate(evaluations):
        root.add_event("gen_ai.evaluation.result", attributes, timestamp=at(4050 + index))
    root.end(at(4100))
    return root


def openllmetry_run(recorder: Recorder) -> Span:
    """The older flattened attributes OpenLLMetry writes: `gen_ai.prompt.<n>.*`,
    `gen_ai.completion.<n>.*`, `llm.request.functions.<n>.*`, and `traceloop.span.kind` spans."""
    root = recorder.start("weather_bot.agent", 0, {
        "traceloop.span.kind": "agent", "traceloop.entity.name": "weather_bot",
        "traceloop.association.properties.user_id": "cust_42",
        "traceloop.entity.input": json.dumps({"args": [QUESTION], "kwargs": {}})})
    calls = {"call_paris": PARIS, "call_london": LONDON}

    def prompt(messages: list[tuple]) -> dict:
        attributes = {}
        for index, (role, content, extra) in enumerate(messages):
            attributes[f"gen_ai.prompt.{index}.role"] = role
            if content is not None:
                attributes[f"gen_ai.prompt.{index}.content"] = content
            for key, item in extra.items():
                attributes[f"gen_ai.prompt.{index}.{key}"] = item
        return attributes

    def asked(call_id: str, where: str = "") -> dict:
        return {f"{where}tool_calls.0.id": call_id, f"{where}tool_calls.0.name": "get_weather",
                f"{where}tool_calls.0.arguments": json.dumps(calls[call_id])}

    def chat(start: int, end: int, messages: list[tuple], completion: dict) -> None:
        attributes = {
            "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 300,
            "llm.request.functions.0.name": "get_weather",
            "llm.request.functions.0.description": WEATHER_TOOL["description"],
            "llm.request.functions.0.parameters": json.dumps(WEATHER_PARAMETERS),
            "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
            **prompt(messages), **{f"gen_ai.completion.0.{key}": item for key, item in completion.items()}}
        recorder.span("openai.chat", start, end, attributes, root)

    def tool(call_id: str, result=None, error: Exception | None = None) -> None:
        attributes = {"traceloop.span.kind": "tool", "traceloop.entity.name": "get_weather",
                      "traceloop.entity.input": json.dumps({"args": [], "kwargs": calls[call_id]})}
        if result is not None:
            attributes["traceloop.entity.output"] = json.dumps(result)
        recorder.span("get_weather.tool", *TOOL_TIMES[call_id], attributes, root, error=error)

    start = [("system", SYSTEM, {}), ("user", QUESTION, {})]
    paris = [("assistant", None, asked("call_paris")),
             ("tool", json.dumps(PARIS_WEATHER), {"tool_call_id": "call_paris"})]
    london = [("assistant", None, asked("call_london")), ("tool", str(TIMEOUT), {"tool_call_id": "call_london"})]
    chat(100, 900, start, {"role": "assistant", "finish_reason": "tool_calls", **asked("call_paris")})
    tool("call_paris", result=PARIS_WEATHER)
    chat(1250, 2000, start + paris, {"role": "assistant", "finish_reason": "tool_calls", **asked("call_london")})
    tool("call_london", error=TIMEOUT)
    chat(3100, 4000, start + paris + london, {"role": "assistant", "finish_reason": "stop", "content": ANSWER})
    root.set_attribute("traceloop.entity.output", json.dumps(ANSWER))
    root.end(at(4100))
    return root


def openinference_run(recorder: Recorder) -> Span:
    """Arize OpenInference: `openinference.span.kind` AGENT, LLM and TOOL spans, flattened
    `llm.input_messages.<n>.message.*`, `llm.tools`, `input.value` / `output.value`."""
    root = recorder.start("Weather Bot", 0, {
        "openinference.span.kind": "AGENT", "agent.name": "Weather Bot", "session.id": "sess_1",
        "user.id": "cust_42", "input.value": QUESTION})
    tool_schema = json.dumps({"type": "function", "function": {
        "name": "get_weather", "description": WEATHER_TOOL["description"], "parameters": WEATHER_PARAMETERS}})
    calls = {"call_paris": PARIS, "call_london": LONDON}

    def messages(prefix: str, items: list[tuple]) -> dict:
        attributes = {}
        for index, (role, content, extra) in enumerate(items):
            attributes[f"{prefix}.{index}.message.role"] = role
            if content is not None:
                attributes[f"{prefix}.{index}.message.content"] = content
            attributes.update({f"{prefix}.{index}.message.{key}": item for key, item in extra.items()})
        return attributes

    def asked(call_id: str) -> dict:
        return {"tool_calls.0.tool_call.id": call_id, "tool_calls.0.tool_call.function.name": "get_weather",
                "tool_calls.0.tool_call.function.arguments": json.dumps(calls[call_id])}

    def llm(start: int, end: int, sent: list[tuple], reply: tuple) -> None:
        recorder.span("ChatCompletion", start, end, {
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.system": "openai",
            "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 300, "model": "gpt-4o-mini"}),
            "llm.tools.0.tool.json_schema": tool_schema, "llm.token_count.prompt": 100,
            "llm.token_count.completion": 20, **messages("llm.input_messages", sent),
            **messages("llm.output_messages", [reply])}, root)

    def tool(call_id: str, result=None, error: Exception | None = None) -> None:
        attributes = {"openinference.span.kind": "TOOL", "tool.name": "get_weather",
                      "input.value": json.dumps(calls[call_id]), "input.mime_type": "application/json"}
        if result is not None:
            attributes["output.value"] = json.dumps(result)
        recorder.span("get_weather", *TOOL_TIMES[call_id], attributes, root, error=error)

    start = [("system", SYSTEM, {}), ("user", QUESTION, {})]
    paris = [("assistant", None, asked("call_paris")),
             ("tool", json.dumps(PARIS_WEATHER), {"tool_call_id": "call_paris"})]
    london = [("assistant", None, asked("call_london")), ("tool", str(TIMEOUT), {"tool_call_id": "call_london"})]
    llm(100, 900, start, ("assistant", None, asked("call_paris")))
    tool("call_paris", result=PARIS_WEATHER)
    llm(1250, 2000, start + paris, ("assistant", None, asked("call_london")))
    tool("call_london", error=TIMEOUT)
    llm(3100, 4000, start + paris + london, ("assistant", ANSWER, {}))
    root.set_attribute("output.value", ANSWER)
    root.end(at(4100))
    return root

