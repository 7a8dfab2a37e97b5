"""Prometheus metrics of the messaging every service does (served on its ops port)."""

from prometheus_client import Counter, Histogram

MESSAGES_HANDLED = Counter(
    "messages_handled_total",
    "Messages handled, by queue, kind (command or event) and outcome (ok, an error code, failed, malformed).",
    ["queue", "kind", "outcome"],
)
MESSAGE_SECONDS = Histogram(
    "message_handling_seconds",
    "Time to handle a message, by queue.",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
EVENTS_PUBLISHED = Counter("events_published_total", "Events relayed from the outbox, by type.", ["type"])
