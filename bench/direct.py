"""The baseline without the message hop: an aiohttp app that runs the issues service's own
handlers, repository and outbox relay in-process, on the same store and broker, for create,
get and list: the same work as the issues service, minus the request/reply over RabbitMQ.

    python -m bench.direct --port 8090   (MONGODB_URL, MONGODB_DATABASE, AMQP_URL, BUS_NAMESPACE)
"""

import argparse
import asyncio
import uuid

from aiohttp import web

from services.issues import bootstrap, handlers
from services.issues.adapters.mongo_repository import MongoIssueRepository
from services.issues.adapters.trace_facts import MongoTraceFacts
from shared.contracts.issues import CreateIssue, GetIssue, ListIssues
from shared.messaging.commands import CommandContext
from shared.messaging.connection import connect
from shared.messaging.events import EventPublisher
from shared.messaging.outbox import OutboxRelay
from shared.messaging.topology import Topology
from shared.settings import CommonSettings
from shared.store.mongo import mongo_client
from shared.store.tracking import MongoAppliedCommands

DEPS = web.AppKey("deps", handlers.Dependencies)


class NoActiveTests:
    async def active_for(self, ctx, issue_id):
        return []


def context() -> CommandContext:
    return CommandContext(uuid.uuid4().hex, "bench", "bench", uuid.uuid4().hex)


async def create(request: web.Request) -> web.Response:
    command = CreateIssue.model_validate(await request.json(), by_name=False)
    result = await handlers.create_issue(command, context(), request.app[DEPS])
    return web.json_response({"success": True, "data": result.issue.to_wire()}, status=201)


async def get(request: web.Request) -> web.Response:
    found = await handlers.get_issue(GetIssue(issue_id=request.match_info["id"]), context(), request.app[DEPS])
    return web.json_response({"success": True, "data": found.issue.to_wire()})


async def listing(request: web.Request) -> web.Response:
    query = ListIssues.model_validate(dict(request.query), by_name=False)
    page = await handlers.list_issues(query, context(), request.app[DEPS])
    return web.json_response({"success": True, "data": page.to_wire()["items"]})


def app() -> web.Application:
    settings = CommonSettings()
    application = web.Application()

    async def resources(application: web.Application):
        mongo = mongo_client(settings, "bench-direct")
        database = mongo[settings.mongodb_database]
        issues = MongoIssueRepository(database["issues"])
        await issues.ensure_indexes()
        connection = await connect(settings.amqp_url, "bench-direct")
        publisher = EventPublisher(connection, Topology(settings.bus_namespace), "issues")
        await publisher.start()
        relay = OutboxRelay(issues, publisher)
        relaying = asyncio.create_task(relay.run())
        applied_commands = MongoAppliedCommands(database["issues_applied_commands"])
        await applied_commands.ensure_indexes()
        application[DEPS] = bootstrap.build(issues, applied_commands, MongoTraceFacts(database["issues_trace_facts"]),
                                            NoActiveTests(), relay.notify)
        yield
        relaying.cancel()
        await connection.close()
        await mongo.close()

    application.cleanup_ctx.append(resources)
    application.router.add_post("/api/v2/issues", create)
    application.router.add_get("/api/v2/issues/{id}", get)
    application.router.add_get("/api/v2/issues", listing)
    return application


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    web.run_app(app(), host="127.0.0.1", port=parser.parse_args().port, access_log=None, print=None)


if __name__ == "__main__":
    main()
