"""The API's one route table: each endpoint's method, path and handler, and what the OpenAPI
document says of it. The application is routed from it and the document generated from it, so
nothing is served undescribed or described unserved."""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel
from pydantic.alias_generators import to_snake

from services.gateway.entrypoints.http import clustering, fixes, issues, shadow_tests, traces, webhooks
from services.gateway.entrypoints.http.cases import CASES
from shared.contracts.clustering import ClusteringSettingsPatch, ClusteringSettingsView
from shared.contracts.fixes import CreateFix, FixDetail, FixPatch, FixView, ListFixes
from shared.contracts.issues import IssueDetail, IssuePatch, IssueSummary, ListIssues, NewIssue
from shared.contracts.shadow_tests import (
    CreateShadowTest,
    ExecuteShadow,
    ListShadowTests,
    ShadowExecution,
    ShadowTestDetail,
    ShadowTestPatch,
    ShadowTestView,
)
from shared.contracts.traces import IngestTraces, ListTraces, Trace
from shared.contracts.webhooks import (
    CreateWebhook,
    DeliveryView,
    ListDeliveries,
    ListWebhooks,
    WebhookPatch,
    WebhookView,
    WebhookWithSecret,
)

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """`method path` is served by `handler`. `path` is written as the document shows it (path
    parameters in camelCase); the router names them in snake_case (`served_path`), as the
    handlers read them and the metrics label them."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    listing: bool = False
    status: str = "200"
    extra_statuses: tuple[str, ...] = ()
    deprecated: bool = False
    path_params: dict[str, str] = field(default_factory=dict)
    etag: bool = False
    if_match: bool = False
    refuses_private_urls: bool = False

    @property
    def served_path(self) -> str:
        return re.sub(r"\{(\w+)\}", lambda name: "{" + to_snake(name[1]) + "}", self.path)


def _issue_routes(base: str, tag: str, deprecated: bool) -> list[Route]:
    one = {"issueId": "The issue's id (`iss_…`)"}
    return [
        Route("get", base, issues.list_issues, "List issues", tag, IssueSummary, query=ListIssues, listing=True,
              deprecated=deprecated),
        Route("post", base, issues.create_issue, "Create an issue", tag, IssueSummary, body=NewIssue, status="201",
              deprecated=deprecated, etag=True),
        Route("get", base + "/{issueId}", issues.get_issue, "Get an issue", tag, IssueDetail, path_params=one,
              deprecated=deprecated, etag=True),
        Route("patch", base + "/{issueId}", issues.update_issue, "Update an issue", tag, IssueSummary, body=IssuePatch,
              path_params=one, deprecated=deprecated, etag=True, if_match=True),
        Route("delete", base + "/{issueId}", issues.delete_issue, "Delete an issue", tag, path_params=one,
              deprecated=deprecated, if_match=True),
    ]


ONE_FIX = {"fixId": "The fix's id"}
ONE_SHADOW_TEST = {"shadowTestId": "The shadow test's id"}
ONE_WEBHOOK = {"webhookId": "The webhook endpoint's id (`wh_…`)"}
ONE_DELIVERY = {**ONE_WEBHOOK, "deliveryId": "The delivery's id (`msg_…`, its `webhook-id` header)"}


def _webhook_routes() -> list[Route]:
    base, tag = "/api/webhooks", "Webhooks"
    one = base + "/{webhookId}"
    return [
        Route("get", base, webhooks.list_webhooks, "List webhook endpoints", tag, WebhookView, query=ListWebhooks,
              listing=True),
        Route("post", base, webhooks.create_webhook, "Create a webhook endpoint (its signing secret shown once)", tag,
              WebhookWithSecret, body=CreateWebhook, status="201", refuses_private_urls=True),
        Route("get", one, webhooks.get_webhook, "Get a webhook endpoint", tag, WebhookView, path_params=ONE_WEBHOOK),
        Route("patch", one, webhooks.update_webhook, "Update a webhook endpoint", tag, WebhookView,
              body=WebhookPatch, path_params=ONE_WEBHOOK, refuses_private_urls=True),
        Route("delete", one, webhooks.delete_webhook, "Delete a webhook endpoint and its deliveries", tag,
              path_params=ONE_WEBHOOK),
        Route("post", one + "/rotate-secret", webhooks.rotate_secret,
              "Rotate the signing secret (the old one signs beside it for a day)", tag, WebhookWithSecret,
              path_params=ONE_WEBHOOK),
        Route("get", one + "/deliveries", webhooks.list_deliveries, "List an endpoint's deliveries and attempts",
              tag, DeliveryView, query=ListDeliveries, listing=True, path_params=ONE_WEBHOOK),
        Route("post", one + "/deliveries/{deliveryId}/resend", webhooks.resend_delivery,
              "Send a finished delivery again", tag, DeliveryView, status="202", path_params=ONE_DELIVERY),
    ]


ROUTES = [
    *_issue_routes("/api/v2/issues", "Issues", deprecated=False),
    Route("get", "/api/fixes", fixes.list_fixes, "List fixes", "Fixes", FixView, query=ListFixes, listing=True),
    Route("post", "/api/fixes", fixes.create_fix, "Create a fix", "Fixes", FixDetail, body=CreateFix, status="201",
          etag=True),
    Route("get", "/api/fixes/{fixId}", fixes.get_fix, "Get a fix", "Fixes", FixDetail, path_params=ONE_FIX,
          etag=True),
    Route("patch", "/api/fixes/{fixId}", fixes.update_fix, "Update a fix", "Fixes", FixView, body=FixPatch,
          path_params=ONE_FIX, etag=True, if_match=True),
    Route("post", "/api/v2/traces", traces.ingest_traces, "Ingest a batch of traces", "Traces",
          traces.IngestedTraces, body=IngestTraces, status="201", extra_statuses=("200",)),
    Route("get", "/api/v2/traces", traces.list_traces, "List traces", "Traces", Trace, query=ListTraces,
          listing=True),
    Route("get", "/api/v2/traces/{traceId}", traces.get_trace, "Get a trace", "Traces", Trace,
          path_params={"traceId": "The trace's id"}),
    Route("get", "/api/shadow-tests", shadow_tests.list_shadow_tests, "List shadow tests", "Shadow tests",
          ShadowTestView, query=ListShadowTests, listing=True),
    Route("post", "/api/shadow-tests", shadow_tests.create_shadow_test, "Create a shadow test", "Shadow tests",
          ShadowTestView, body=CreateShadowTest, status="201"),
    Route("get", "/api/shadow-tests/{shadowTestId}", shadow_tests.get_shadow_test,
          "Get a shadow test with its per-trace results", "Shadow tests", ShadowTestDetail,
          path_params=ONE_SHADOW_TEST),
    Route("patch", "/api/shadow-tests/{shadowTestId}", shadow_tests.update_shadow_test,
          "Stop a shadow test as failed", "Shadow tests", ShadowTestView, body=ShadowTestPatch,
          path_params=ONE_SHADOW_TEST),
    Route("post", "/api/shadow-execution", shadow_tests.execute_shadow,
          "Replay one trace against a fix, synchronously (30 s)", "Shadow tests", ShadowExecution,
          body=ExecuteShadow, extra_statuses=("502",)),
    Route("get", "/api/v2/clustering-settings", clustering.get_settings, "Get the workspace's clustering settings",
          "Clustering", ClusteringSettingsView, etag=True),
    Route("patch", "/api/v2/clustering-settings", clustering.update_settings,
          "Change the workspace's clustering settings", "Clustering", ClusteringSettingsView,
          body=ClusteringSettingsPatch, etag=True, if_match=True),
    *_webhook_routes(),
    *_issue_routes(CASES, "Cases (deprecated)", deprecated=True),
]


def add_routes(app: web.Application) -> None:
    resources: dict[str, web.Resource] = {}
    for route in ROUTES:
        resource = resources.get(route.served_path) or app.router.add_resource(route.served_path)
        resources[route.served_path] = resource
        resource.add_route(route.method.upper(), route.handler)
