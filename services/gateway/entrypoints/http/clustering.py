"""`/api/v2/clustering-settings`: a workspace's clustering settings."""

from aiohttp import web

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.dispatch import send
from services.gateway.entrypoints.http.preconditions import etag, expected_versions
from services.gateway.entrypoints.http.requests import json_body, validated
from shared.contracts.clustering import ClusteringSettingsPatch, GetClusteringSettings, UpdateClusteringSettings


async def get_settings(request: web.Request) -> web.Response:
    result = await send(request, GetClusteringSettings())
    return responses.ok(result["settings"], headers=etag(result["version"]))


async def update_settings(request: web.Request) -> web.Response:
    condition = expected_versions(request)
    patch = validated(ClusteringSettingsPatch, await json_body(request))
    result = await send(request, UpdateClusteringSettings(patch=patch, expected_versions=condition))
    return responses.ok(result["settings"], headers=etag(result["version"]))
