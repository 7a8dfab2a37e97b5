"""`/api/webhooks`: parse the request, send the command to the delivery service, shape the reply."""

from aiohttp import web

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.dispatch import send
from services.gateway.entrypoints.http.requests import idempotency_key, json_body, path_params, query_params, validated
from shared.contracts.webhooks import (
    CreateWebhook,
    DeleteWebhook,
    GetWebhook,
    ListDeliveries,
    ListWebhooks,
    ResendDelivery,
    RotateWebhookSecret,
    UpdateWebhook,
    WebhookPatch,
)


async def list_webhooks(request: web.Request) -> web.Response:
    return responses.page(await send(request, validated(ListWebhooks, query_params(request), where="query")))


async def create_webhook(request: web.Request) -> web.Response:
    key = idempotency_key(request)
    result = await send(request, validated(CreateWebhook, await json_body(request)), key)
    return responses.created(result["webhook"], result["replayed"])


async def get_webhook(request: web.Request) -> web.Response:
    return responses.ok(await send(request, validated(GetWebhook, path_params(request), where="path")))


async def update_webhook(request: web.Request) -> web.Response:
    patch = validated(WebhookPatch, await json_body(request))
    command = validated(UpdateWebhook, path_params(request) | {"patch": patch}, where="path")
    return responses.ok(await send(request, command))


async def delete_webhook(request: web.Request) -> web.Response:
    await send(request, validated(DeleteWebhook, path_params(request), where="path"))
    return responses.message("Webhook deleted successfully")


async def rotate_secret(request: web.Request) -> web.Response:
    return responses.ok(await send(request, validated(RotateWebhookSecret, path_params(request), where="path")))


async def list_deliveries(request: web.Request) -> web.Response:
    command = validated(ListDeliveries, query_params(request) | path_params(request), where="query")
    return responses.page(await send(request, command))


async def resend_delivery(request: web.Request) -> web.Response:
    return responses.ok(await send(request, validated(ResendDelivery, path_params(request), where="path")),
                        status=202)
