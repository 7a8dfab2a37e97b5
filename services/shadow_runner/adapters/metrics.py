"""The runner's own Prometheus metrics: replays and model calls."""

from prometheus_client import Counter, Histogram

from shared.contracts.shadow_tests import TraceResult

REPLAYS = Counter("replays_total", "Traces replayed and scored, by verdict.", ["verdict"])
REPLAY_SECONDS = Histogram(
    "replay_seconds", "Time to replay and score one trace.", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
)
MODEL_CALLS = Counter(
    "model_calls_total", "HTTP calls to a model endpoint, by model and outcome.", ["model", "outcome"]
)
MODEL_SECONDS = Histogram(
    "model_call_seconds", "Time of one call to a model endpoint.", ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class PrometheusReplayMetrics:
    def replayed(self, result: TraceResult) -> None:
        REPLAYS.labels(result.verdict).inc()
        REPLAY_SECONDS.observe(result.latency_ms / 1000)
