"""`make clean-bus BUS_NAMESPACE=… [FORCE=1]`: deletes a bus namespace's queues and exchanges.

Refuses, deleting nothing, while a queue of the namespace has consumers (a stack still running
in it) unless forced. Prints what it deleted; a namespace that was never there is not an error.
"""

import argparse
import asyncio
import os
import sys

from deploy.local.processes import SERVICES
from services.clustering.entrypoints.events import subscriptions as clustering_subscriptions
from services.delivery.adapters.broker_attempts import delay_queue
from services.delivery.entrypoints.events import subscriptions as delivery_subscriptions
from services.delivery.settings import MAX_RETRIES
from services.fixes.entrypoints.events import subscriptions as fixes_subscriptions
from services.issues.entrypoints.events import subscriptions as issues_subscriptions
from services.shadow_runner.entrypoints.work import work_queues as runner_work_queues
from shared.messaging.cleanup import LiveConsumers, NamespaceNames, namespace_names, remove_namespace
from shared.messaging.connection import UNREACHABLE
from shared.messaging.topology import Topology
from shared.settings import CommonSettings


def bus_names(namespace: str) -> NamespaceNames:
    """Everything the services declare under `namespace` (the gateway declares only the commands
    exchange and self-deleting reply queues), and the delivery service's delay queues (as many as
its retry schedule can have). The subscription lists are built without
    dependencies only to read their names."""
    subscriptions = {
        "issues": [s.name for s in issues_subscriptions(None)],
        "fixes": [s.name for s in fixes_subscriptions(None)],
        "shadow_runner": [s.name for s in runner_work_queues(None, 1)],
        "clustering": [s.name for s in clustering_subscriptions(None)],
        "delivery": [s.name for s in delivery_subscriptions(None)],
    }
    names = namespace_names(namespace, SERVICES, subscriptions)
    topology = Topology(namespace)
    return NamespaceNames([*names.queues, *(delay_queue(topology, level) for level in range(MAX_RETRIES))],
                          names.exchanges)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make clean-bus", description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default=os.environ.get("BUS_NAMESPACE"))
    parser.add_argument("--force", action="store_true", help="delete even while consumers are attached")
    arguments = parser.parse_args(argv)
    if not arguments.namespace:
        print("usage: make clean-bus BUS_NAMESPACE=name [FORCE=1]", file=sys.stderr)
        return 2
    settings = CommonSettings(bus_namespace=arguments.namespace)
    try:
        removed = asyncio.run(remove_namespace(settings.amqp_url, bus_names(settings.bus_namespace), arguments.force))
    except LiveConsumers as live:
        print(f"clean-bus: {settings.bus_namespace} is in use, nothing deleted; consumers on: {live}; "
              "stop what runs in it first, or add FORCE=1", file=sys.stderr)
        return 1
    except UNREACHABLE as error:
        print(f"clean-bus: the broker at AMQP_URL does not answer: {error or type(error).__name__}", file=sys.stderr)
        return 1
    print(f"clean-bus: {settings.bus_namespace}: deleted {len(removed.queues)} queues and "
          f"{len(removed.exchanges)} exchanges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
