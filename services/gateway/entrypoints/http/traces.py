"""`/api/v2/traces`: parse the request, send the command, shape the reply."""

from aiohttp import web

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.dispatch import send
from services.gateway.entrypoints.http.keys import SETTINGS
from services.gateway.entrypoints.http.requests import idempotency_key, json_body, path_params, query_params, validated
from shared.contracts.common import ContractModel
from shared.contracts.traces import GetTrace, IngestTraces, ListTraces


class IngestedTraces(ContractModel):
    created: list[str]
    existing: list[str]


async def ingest_traces(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    command = validated(IngestTraces, await json_body(request))
    result = await send(request, command, key, timeout=request.app[SETTINGS].trace_ingest_timeout_seconds)
    replayed = result.pop("replayed")
    return responses.created(result, replayed, status=201 if result["created"] else 200)


async def get_trace(request: web.Request) -> web.Response:
    return responses.ok(await send(request, validated(GetTrace, path_params(request), "path")))


async def list_traces(request: web.Request) -> web.Response:
    return responses.page(await send(request, validated(ListTraces, query_params(request), where="query")))

