"""A weather agent instrumented with OpenTelemetry, its spans sent over OTLP/HTTP.

The exporter is configured only by the standard environment variables:

    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:8080
    OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20thk_..."

It records one run as the GenAI semantic conventions write it (what an instrumentation library
such as opentelemetry-instrumentation-openai-v2 records for you): an `invoke_agent` span, a
`chat` span per model call with its messages, and an `execute_tool` span per tool call. The
model and the weather service are stand-ins, so that it runs offline. It prints the id of the
trace the run becomes (`otel-<trace id>`).
"""

import json

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Tomorrow's weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
FORECASTS = {"Paris": {"sky": "rain", "celsius": 14}, "London": {"sky": "cloudy", "celsius": 11}}
SYSTEM = "You are Weather Bot. Look the weather up with get_weather before you answer."


def fake_model(messages: list[dict]) -> dict:
    """Asks for Paris, then London, then answers (a real agent calls its model here)."""
    asked = [part for message in messages for part in message["parts"] if part["type"] == "tool_call"]
    if len(asked) < 2:
        city = ["Paris", "London"][len(asked)]
        return {"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "tool_call", "id": f"call_{city.lower()}", "name": "get_weather", "arguments": {"city": city}}]}
    return {"role": "assistant", "finish_reason": "stop", "parts": [
        {"type": "text", "content": "Take an umbrella in Paris (rain, 14°C); London stays dry (cloudy, 11°C)."}]}


def run_agent(tracer: trace.Tracer, question: str) -> str:
    with tracer.start_as_current_span("invoke_agent Weather Bot", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "weather_bot",
            "gen_ai.agent.name": "Weather Bot", "user.id": "cust_42"}) as agent:
        messages = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
        while True:
            with tracer.start_as_current_span("chat demo-model", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "demo-model",
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.system_instructions": json.dumps([{"type": "text", "content": SYSTEM}]),
                    "gen_ai.tool.definitions": json.dumps([WEATHER_TOOL]),
                    "gen_ai.input.messages": json.dumps(messages)}) as chat:
                reply = fake_model(messages)
                chat.set_attribute("gen_ai.output.messages", json.dumps([reply]))
            messages.append(reply)
            calls = [part for part in reply["parts"] if part["type"] == "tool_call"]
            if not calls:
                return format(agent.get_span_context().trace_id, "032x")
            for call in calls:
                with tracer.start_as_current_span("execute_tool get_weather", attributes={
                        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call["name"],
                        "gen_ai.tool.call.id": call["id"],
                        "gen_ai.tool.call.arguments": json.dumps(call["arguments"])}) as tool:
                    result = FORECASTS[call["arguments"]["city"]]
                    tool.set_attribute("gen_ai.tool.call.result", json.dumps(result))
                messages.append({"role": "tool", "parts": [
                    {"type": "tool_call_response", "id": call["id"], "response": result}]})


def main() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "weather-agent"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace_id = run_agent(provider.get_tracer("weather-agent"), "Do I need an umbrella in Paris or London tomorrow?")
    provider.shutdown()
    print(f"otel-{trace_id}")


if __name__ == "__main__":
    main()
