"""The runner's own work, which it sends itself: not a contract with any other service."""

from typing import ClassVar

from shared.contracts.common import ContractModel


class ReplayRequested(ContractModel):
    """Replay one trace of one test. Written to the test's outbox when the test is created,
    published on the runner's work exchange (never on its public events exchange) and taken
    from the runner pool's durable work queue."""

    routing_key: ClassVar[str] = "replay.requested"
    shadow_test_id: str
    trace_id: str


WORK = (ReplayRequested,)
"""The outbox messages that are the runner's work, not its events."""
