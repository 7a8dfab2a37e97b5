"""`/api/fixes`: parse the request, send the command, shape the reply."""

from aiohttp import web

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.dispatch import send
from services.gateway.entrypoints.http.preconditions import etag, expected_versions
from services.gateway.entrypoints.http.requests import idempotency_key, json_body, path_params, query_params, validated
from shared.contracts.fixes import CreateFix, FixPatch, GetFix, ListFixes, UpdateFix


async def list_fixes(request: web.Request) -> web.Response:
    command = validated(ListFixes, query_params(request), where="query")
    return responses.page(await send(request, command))


async def create_fix(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    command = validated(CreateFix, await json_body(request))
    result = await send(request, command, key)
    return responses.created(result["fix"], result["replayed"], headers=etag(result["version"]))


async def get_fix(request: web.Request) -> web.Response:
    result = await send(request, validated(GetFix, path_params(request), where="path"))
    return responses.ok(result["fix"], headers=etag(result["version"]))


async def update_fix(request: web.Request) -> web.Response:
    condition = expected_versions(request)
    patch = validated(FixPatch, await json_body(request))
    command = validated(UpdateFix, path_params(request) | {"patch": patch, "expectedVersions": condition}, where="path")
    result = await send(request, command)
    return responses.ok(result["fix"], headers=etag(result["version"]))


