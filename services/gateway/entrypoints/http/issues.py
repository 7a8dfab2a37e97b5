"""`/api/v2/issues`: parse the request, send the command, shape the reply."""

from aiohttp import web

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.dispatch import send
from services.gateway.entrypoints.http.preconditions import etag, expected_versions
from services.gateway.entrypoints.http.requests import idempotency_key, json_body, path_params, query_params, validated
from shared.contracts.issues import CreateIssue, DeleteIssue, GetIssue, IssuePatch, ListIssues, NewIssue, UpdateIssue


async def list_issues(request: web.Request) -> web.Response:
    command = validated(ListIssues, query_params(request), where="query")
    return responses.page(await send(request, command))


async def create_issue(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    command = CreateIssue.of(validated(NewIssue, await json_body(request)))
    result = await send(request, command, key)
    return responses.created(result["issue"], result["replayed"], headers=etag(result["version"]))


async def get_issue(request: web.Request) -> web.Response:
    result = await send(request, validated(GetIssue, path_params(request), where="path"))
    return responses.ok(result["issue"], headers=etag(result["version"]))


async def update_issue(request: web.Request) -> web.Response:
    condition = expected_versions(request)
    patch = validated(IssuePatch, await json_body(request))
    fields = path_params(request) | {"patch": patch, "expectedVersions": condition}
    command = validated(UpdateIssue, fields, where="path")
    result = await send(request, command)
    return responses.ok(result["issue"], headers=etag(result["version"]))


async def delete_issue(request: web.Request) -> web.Response:
    condition = expected_versions(request)
    await send(request, validated(DeleteIssue, path_params(request) | {"expectedVersions": condition}, where="path"))
    return responses.message("Issue deleted successfully")


