"""Composition root of the delivery service: builds every part and runs them until stopped."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from services.delivery.adapters.broker_attempts import BrokerAttempts
from services.delivery.adapters.mongo_repository import MongoDeliveries, MongoEndpoints
from services.delivery.adapters.receivers import HttpReceivers, SystemResolver
from services.delivery.domain.model import RetrySchedule
from services.delivery.entrypoints.commands import command_routes
from services.delivery.entrypoints.events import subscriptions
from services.delivery.handlers import Dependencies, sweep
from services.delivery.ports import Attempts, DeliveryRepository, EndpointRepository, Receivers, Resolver
from services.delivery.settings import DeliverySettings
from shared.contracts.common import utc_now
from shared.contracts.errors import Unavailable
from shared.contracts.webhooks import DELIVERY_SERVICE, AttemptDue
from shared.messaging.connection import stopped_within
from shared.messaging.host import ServiceHost, main_loop
from shared.messaging.rpc import BROKER_ERRORS
from shared.store.mongo import mongo_client, store_ping

log = structlog.get_logger(__name__)


def build(
    settings: DeliverySettings,
    endpoints: EndpointRepository,
    deliveries: DeliveryRepository,
    attempts: Attempts,
    receivers: Receivers,
    resolver: Resolver,
    notify: Callable[[str], None],
    clock: Callable[[], datetime] = utc_now,
) -> Dependencies:
    """The handlers' dependencies over these adapters: MongoDB, RabbitMQ and HTTP ones in `run`,
    in-memory fakes in unit tests. An attempt is overdue (the sweep sends it again) once it is
    later than its delay, its jitter and `grace` allow."""
    grace = timedelta(seconds=2 * settings.webhook_timeout_seconds + settings.webhook_sweep_interval_seconds)
    return Dependencies(endpoints, deliveries, attempts, receivers, resolver, RetrySchedule(settings.retry_delays),
                        settings.webhook_allow_private, timedelta(seconds=settings.webhook_disable_after_seconds),
                        grace, notify, clock)


async def run(settings: DeliverySettings, stop: asyncio.Event) -> None:
    mongo = mongo_client(settings, DELIVERY_SERVICE)
    database = mongo[settings.mongodb_database]
    endpoints = MongoEndpoints(database["webhooks"])
    deliveries = MongoDeliveries(database["webhook_deliveries"])
    receivers = HttpReceivers(settings.webhook_timeout_seconds, settings.webhook_allow_private)
    host = ServiceHost(DELIVERY_SERVICE, settings, stop)
    try:
        prepare = [endpoints.ensure_indexes, deliveries.ensure_indexes]
        if await host.start(store_ping(mongo), prepare, endpoints, work=[AttemptDue]):
            attempts = BrokerAttempts(host.connection, host.topology, host.publisher, len(settings.retry_delays))
            await attempts.start()
            await receivers.start()
            deps = build(settings, endpoints, deliveries, attempts, receivers, SystemResolver(), host.relay.notify)
            await host.serve(command_routes(deps), subscriptions(deps),
                             background=[lambda: _sweeping(deps, settings.webhook_sweep_interval_seconds, stop)])
    finally:
        await receivers.close()
        await host.close()
        await mongo.close()


async def _sweeping(deps: Dependencies, interval: float, stop: asyncio.Event) -> None:
    while not await stopped_within(stop, interval):
        try:
            await sweep(deps)
        except (Unavailable, *BROKER_ERRORS) as error:
            log.warning("delivery sweep failed; next time", error=repr(error))
        except Exception:
            log.exception("delivery sweep failed")


def main() -> None:
    main_loop(DELIVERY_SERVICE, DeliverySettings(), run)
