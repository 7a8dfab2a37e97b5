import pytest

from tests.support.infrastructure import broker_counts, counts_back_to, delete_namespaces, rabbitmq_node


@pytest.fixture(scope="session", autouse=True)
async def broker_left_as_found(amqp, namespaces):
    """The whole fault run, restarts and kills included, ends with the broker holding as many
    queues and exchanges as when it began (checked when `rabbitmqctl` has a node to ask).
    Fails the session's last test at teardown otherwise."""
    if rabbitmq_node() is None:
        yield
        return
    before = await broker_counts()
    yield
    await delete_namespaces(amqp, namespaces)
    await counts_back_to(before, 30)
