"""`/api/shadow-tests` and `/api/shadow-execution`: parse, send, shape the reply."""

from aiohttp import web

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.dispatch import send
from services.gateway.entrypoints.http.keys import SETTINGS
from services.gateway.entrypoints.http.requests import idempotency_key, json_body, path_params, query_params, validated
from shared.contracts.shadow_tests import (
    CreateShadowTest,
    ExecuteShadow,
    GetShadowTest,
    ListShadowTests,
    ShadowTestPatch,
    UpdateShadowTest,
)


async def list_shadow_tests(request: web.Request) -> web.Response:
    return responses.page(await send(request, validated(ListShadowTests, query_params(request), where="query")))


async def create_shadow_test(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    command = validated(CreateShadowTest, await json_body(request))
    result = await send(request, command, key)
    return responses.created(result["test"], result["replayed"])


async def get_shadow_test(request: web.Request) -> web.Response:
    return responses.ok(await send(request, validated(GetShadowTest, path_params(request), where="path")))


async def update_shadow_test(request: web.Request) -> web.Response:
    patch = validated(ShadowTestPatch, await json_body(request))
    command = validated(UpdateShadowTest, path_params(request) | {"patch": patch}, "path")
    return responses.ok(await send(request, command))


async def execute_shadow(request: web.Request) -> web.Response:
    command = validated(ExecuteShadow, await json_body(request))
    return responses.ok(await send(request, command, timeout=request.app[SETTINGS].shadow_execution_timeout_seconds))

