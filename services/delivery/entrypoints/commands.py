"""The delivery service's command queue: each command type routed to its handler."""

from services.delivery import handlers
from shared.contracts.webhooks import (
    CreateWebhook,
    DeleteWebhook,
    GetWebhook,
    ListDeliveries,
    ListWebhooks,
    ResendDelivery,
    RotateWebhookSecret,
    UpdateWebhook,
)
from shared.messaging.commands import CommandRoute, routes_for


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    return routes_for(
        {
            CreateWebhook: handlers.create_webhook,
            GetWebhook: handlers.get_webhook,
            ListWebhooks: handlers.list_webhooks,
            UpdateWebhook: handlers.update_webhook,
            DeleteWebhook: handlers.delete_webhook,
            RotateWebhookSecret: handlers.rotate_secret,
            ListDeliveries: handlers.list_deliveries,
            ResendDelivery: handlers.resend_delivery,
        },
        deps,
    )
