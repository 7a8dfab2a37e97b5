"""Whether a failed command publish may have been carried out: 503 only when it certainly was not."""

import pytest

from services.gateway.domain.api_keys import Principal
from services.gateway.handlers import CommandBus
from shared.contracts.envelope import Envelope
from shared.contracts.errors import DeadlineExceeded, Unavailable
from shared.messaging.rpc import BrokerUnavailable, CommandInDoubt, RpcClient
from shared.messaging.topology import Topology


class Closable:
    def __init__(self, closed: bool = False):
        self.is_closed = closed


class LosingExchange:
    """Takes the frames, then the connection drops before the confirm comes back."""

    def __init__(self, error: Exception):
        self.error = error
        self.published = 0

    async def publish(self, *_args, **_kwargs):
        self.published += 1
        raise self.error


def client(exchange: LosingExchange | None, connected: bool = True) -> RpcClient:
    rpc = RpcClient(Closable(not connected), Topology("t"), start_margin=0.1)
    rpc._channel = Closable()
    rpc._exchange = exchange
    return rpc


def envelope() -> Envelope:
    return Envelope(type="issues.create", workspace="ws", correlation_id="c", payload={})


@pytest.mark.parametrize("error", [ConnectionResetError("reset by peer"), TimeoutError()])
async def test_a_connection_lost_before_the_confirm_leaves_the_command_in_doubt(error):
    exchange = LosingExchange(error)
    with pytest.raises(CommandInDoubt, match="before it confirmed"):
        await client(exchange).call("issues", envelope(), timeout=1)
    assert exchange.published == 1


async def test_no_connection_means_the_command_was_never_handed_over():
    exchange = LosingExchange(ConnectionResetError())
    with pytest.raises(BrokerUnavailable, match="not connected"):
        await client(exchange, connected=False).call("issues", envelope(), timeout=1)
    assert exchange.published == 0


class Failing:
    def __init__(self, error: Exception):
        self.error = error

    async def call(self, *_args):
        raise self.error


class CreateIssue:
    service = "issues"
    message_type = "issues.create"

    def to_wire(self) -> dict:
        return {}


async def test_the_gateway_answers_504_for_a_command_in_doubt_and_503_for_one_never_taken():
    principal = Principal("ws", "key_1", "key_1")
    doubtful = CommandBus(Failing(CommandInDoubt("lost")), timeout=1)
    with pytest.raises(DeadlineExceeded, match="may or may not have been carried out"):
        await doubtful.send(CreateIssue(), principal, "c")
    refused = CommandBus(Failing(BrokerUnavailable("not connected")), timeout=1)
    with pytest.raises(Unavailable):
        await refused.send(CreateIssue(), principal, "c")
