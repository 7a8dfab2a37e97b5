"""The OpenAPI 3.1 description of the API, generated from the route table the application is
routed from (`routes.ROUTES`) and the pydantic contracts the gateway validates with, so none of
them can drift; served at `/api/openapi.json` with a browsable page at `/api/docs`, whose
reference is rendered by Redoc served from the gateway itself (no CDN)."""

import html
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.alias_generators import to_pascal
from pydantic.json_schema import models_json_schema

from services.gateway.entrypoints.http import responses
from services.gateway.entrypoints.http.middlewares import REQUEST_ID
from services.gateway.entrypoints.http.otlp import API_OTLP_PATH, OTLP_PATH
from services.gateway.entrypoints.http.requests import IDEMPOTENCY_KEY
from services.gateway.entrypoints.http.routes import ROUTES, Route
from shared.contracts.common import ContractModel, storable_json_schema
from shared.contracts.errors import ErrorBody
from shared.contracts.fixes import CHANGES_BY_TYPE, FixId
from shared.contracts.issues import IssueId
from shared.contracts.shadow_tests import ShadowTestId
from shared.contracts.traces import TraceId
from shared.contracts.webhooks import DeliveryId, WebhookId

REDOC = Path(__file__).parent / "static" / "redoc-2.5.4.standalone.js"
REDOC_PATH = "/api/docs/" + REDOC.name

ERRORS = {
    "400": "Invalid request body, query or path (VALIDATION_ERROR), each problem named in `details`",
    "401": "Missing or invalid API key (UNAUTHORIZED)",
    "404": "No such resource in your workspace (NOT_FOUND)",
    "409": "The resource's state does not allow this (CONFLICT)",
    "413": "Request body too large (PAYLOAD_TOO_LARGE)",
    "414": "Request line longer than 16 KiB (URI_TOO_LONG)",
    "429": "Too many requests for this API key, or too many failed authentications from this address "
           "(RATE_LIMITED); see Retry-After",
    "431": "A request header longer than 8 KiB, or more than 128 headers (HEADERS_TOO_LARGE)",
    "500": "Unexpected server error (INTERNAL_ERROR)",
    "503": "The broker, a store or a service is unreachable; nothing was done (SERVICE_UNAVAILABLE)",
    "504": "No answer in time (TIMEOUT)",
}
PRIVATE_URL = ("The URL's host resolves to a loopback, link-local or private address, which the server does not "
               "call (FORBIDDEN)")
PRECONDITION_FAILED = ("The resource changed since it was read: If-Match names none of its ETags "
                       "(PRECONDITION_FAILED); read it again")


class Pagination(ContractModel):
    page: int
    limit: int
    total: int
    has_more: bool


PATH_PARAMETERS = {name: TypeAdapter(kind).json_schema() for name, kind in
                   {"issueId": IssueId, "fixId": FixId, "traceId": TraceId, "shadowTestId": ShadowTestId,
                    "webhookId": WebhookId, "deliveryId": DeliveryId}.items()}


@cache
def openapi_document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], str]] = [(ErrorBody, "serialization"), (Pagination, "serialization")]
    models += [(changes, "validation") for changes in CHANGES_BY_TYPE.values()]
    for operation in ROUTES:
        if operation.response:
            models.append((operation.response, "serialization"))
        for request_model in (operation.body, operation.query):
            if request_model:
                models.append((request_model, "validation"))
    keys, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas = definitions.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict:
        return keys[(model, mode)]

    _describe_changes_per_type(schemas, ref)
    _storable_free_form(schemas)

    paths: dict[str, dict] = {}
    for operation in ROUTES:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation, ref, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Agent reliability API",
            "version": "2.0.0",
            "description": "Issues, fixes, traces and shadow tests. Every error is "
                           '`{"success": false, "error": {"code", "message", "details"}}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "tags": [{"name": name} for name in dict.fromkeys(operation.tag for operation in ROUTES)],
        "paths": {**paths, **_otlp_paths(), **_operations_paths()},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "thk_… API key"}},
        },
    }


def _operation(operation: Route, ref, schemas: dict) -> dict:
    spec: dict[str, Any] = {
        "summary": operation.summary,
        "tags": [operation.tag],
        "operationId": operation.method + "_" + "_".join(
            part.strip("{}") for part in operation.path.strip("/").split("/")
        ),
        "parameters": [],
        "responses": {},
    }
    if operation.deprecated:
        spec["deprecated"] = True
    for name, description in operation.path_params.items():
        spec["parameters"].append({"name": name, "in": "path", "required": True, "description": description,
                                   "schema": PATH_PARAMETERS[name]})
    if operation.query:
        query_schema = schemas[ref(operation.query, "validation")["$ref"].rsplit("/", 1)[1]]
        for name, schema in query_schema["properties"].items():
            if name in operation.path_params:
                continue
            spec["parameters"].append({"name": name, "in": "query", "required": False, "schema": _not_null(schema)})
    spec["parameters"].append({"name": "X-Request-Id", "in": "header", "required": False,
                               "description": "Any value: one that matches `" + REQUEST_ID.pattern + "` is kept, any "
                                              "other is replaced by a new id. The id is echoed back and is in every "
                                              "log line of the request",
                               "schema": {"type": "string"}})
    if operation.status == "201":
        spec["parameters"].append({"name": "Idempotency-Key", "in": "header", "required": False,
                                   "description": "The same key and body again replays the first answer",
                                   "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern}})
    if operation.if_match:
        spec["parameters"].append({"name": "If-Match", "in": "header", "required": False,
                                   "description": "Change it only if it is still as read: `*`, or the `ETag` it was "
                                                  "read with (a list matches any); `412` otherwise, also for a "
                                                  "value that is not a list of entity tags",
                                   "schema": {"type": "string"}})
    if operation.body:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(operation.body,
                                                                                                  "validation")}}}
    spec["responses"][operation.status] = _success(operation, ref)
    for status in operation.extra_statuses:
        if status == "502":
            spec["responses"][status] = _error(status, "The model endpoint kept failing (UPSTREAM_ERROR)", ref)
        else:
            spec["responses"][status] = _success(operation, ref)
    for status, description in ERRORS.items():
        spec["responses"][status] = _error(status, description, ref)
    if operation.refuses_private_urls:
        spec["responses"]["403"] = _error("403", PRIVATE_URL, ref)
    if operation.if_match:
        spec["responses"]["412"] = _error("412", PRECONDITION_FAILED, ref)
    return spec


def _describe_changes_per_type(schemas: dict, ref) -> None:
    """`changes` is checked against the schema of the fix's `type` (`CHANGES_BY_TYPE`): a
    CreateFix is one of four bodies told apart by `type`, and a FixPatch's `changes` is one of
    the four `changes` (the one of the fix's type)."""
    create = schemas.pop("CreateFix")
    variants = {}
    for fix_type, changes in CHANGES_BY_TYPE.items():
        name = f"Create{to_pascal(fix_type)}Fix"
        properties = {**create["properties"], "type": {"const": fix_type, "type": "string"},
                      "changes": ref(changes, "validation")}
        schemas[name] = {**create, "title": name, "properties": properties}
        variants[fix_type] = f"#/components/schemas/{name}"
    schemas["CreateFix"] = {"title": "CreateFix", "description": create.get("description", ""),
                            "oneOf": [{"$ref": target} for target in variants.values()],
                            "discriminator": {"propertyName": "type", "mapping": variants}}
    schemas["FixPatch"]["properties"]["changes"] = {
        "description": "The changes of the fix's type, replacing the fix's changes whole",
        "oneOf": [ref(changes, "validation") for changes in CHANGES_BY_TYPE.values()],
    }


def _storable_free_form(schemas: dict) -> None:
    """Free-form JSON (an object's `additionalProperties: true`) is checked by the gateway and the
    contracts to be storable: say so with a `StorableJson` schema."""
    ref = "#/components/schemas/StorableJson"

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is True:
                node["additionalProperties"] = {"$ref": ref}
                node["propertyNames"] = {"pattern": "^[^\u0000]*$"}
            for child in node.values():
                visit(child)
        elif isinstance(node, list):
            for child in node:
                visit(child)

    visit(schemas)
    schemas["StorableJson"] = storable_json_schema(ref)


def _not_null(schema: dict) -> dict:
    """A query parameter is absent rather than null: keep the non-null choice of an optional."""
    choices = [choice for choice in schema.get("anyOf", []) if choice.get("type") != "null"]
    if len(choices) == 1:
        return {**choices[0], **{k: v for k, v in schema.items() if k not in ("anyOf", "default")}}
    return schema


RESPONSE_HEADERS = {
    "X-Request-Id": {"description": "The request's correlation id", "schema": {"type": "string"}},
    "RateLimit-Limit": {"description": "Requests the API key may burst", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the burst", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the burst is whole again", "schema": {"type": "integer"}},
}


def _success(operation: Route, ref) -> dict:
    if operation.response is None:
        body = {"type": "object", "required": ["success", "message"],
                "properties": {"success": {"const": True}, "message": {"type": "string"}}}
    elif operation.listing:
        body = {"type": "object", "required": ["success", "data", "pagination"],
                "properties": {"success": {"const": True},
                               "data": {"type": "array", "items": ref(operation.response, "serialization")},
                               "pagination": ref(Pagination, "serialization")}}
    else:
        body = {"type": "object", "required": ["success", "data"],
                "properties": {"success": {"const": True}, "data": ref(operation.response, "serialization")}}
    headers = dict(RESPONSE_HEADERS)
    if operation.etag:
        headers["ETag"] = {"description": "The resource's entity tag, which every change moves: send it back in "
                                          "If-Match", "schema": {"type": "string"}}
    if operation.status == "201":
        headers["Idempotent-Replayed"] = {"description": "`true` when the answer replays the first one",
                                          "schema": {"type": "string"}}
    return {"description": "Success", "headers": headers, "content": {"application/json": {"schema": body}}}


def _error(status: str, description: str, ref) -> dict:
    body = {"type": "object", "required": ["success", "error"],
            "properties": {"success": {"const": False}, "error": ref(ErrorBody, "serialization")}}
    headers = dict(RESPONSE_HEADERS)
    if status == "429":
        headers["Retry-After"] = {"description": "Seconds to wait", "schema": {"type": "integer"}}
    return {"description": description, "headers": headers, "content": {"application/json": {"schema": body}}}


def _otlp_paths() -> dict:
    """OTLP/HTTP's own shapes (opentelemetry-proto): an `ExportTraceServiceRequest` in, an
    `ExportTraceServiceResponse` or a `google.rpc.Status` out, protobuf or JSON as sent."""
    status = {"type": "object", "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                                               "details": {"type": "array"}}}
    answer = {"type": "object", "properties": {"partialSuccess": {"type": "object", "properties": {
        "rejectedSpans": {"type": ["string", "integer"]}, "errorMessage": {"type": "string"}}}}}

    def body(schema: dict) -> dict:
        return {"application/json": {"schema": schema},
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}}}

    failures = {"400": "Not a decodable ExportTraceServiceRequest", "401": "Missing or invalid API key",
                "413": "Body or export too large", "415": "Content-Type or Content-Encoding not supported",
                "429": "Rate limited (Retry-After)", "503": "Not ready (Retry-After)",
                "504": "The traces service did not answer in time"}
    def export(operation_id: str, endpoint: str) -> dict:
        return {"post": {
            "summary": "Export spans over OTLP/HTTP (protobuf or JSON, gzip or deflate)", "tags": ["Traces"],
            "operationId": operation_id,
            "description": f"Point an OTLP exporter here (`OTEL_EXPORTER_OTLP_ENDPOINT` at {endpoint}). "
                           "Agent runs become traces once complete; see docs/otlp.md.",
            "requestBody": {"required": True, "content": body({"type": "object"})},
            "responses": {"200": {"description": "Accepted; partialSuccess counts refused spans",
                                  "content": body(answer)},
                          **{code: {"description": text, "content": body(status)} for code, text in failures.items()}}}}

    return {OTLP_PATH: export("export_otlp_traces", "the gateway's root"),
            API_OTLP_PATH: export("export_otlp_traces_under_api", "`<gateway>/api/otlp`, for a gateway reached "
                                                                  "only under `/api/`")}


def _operations_paths() -> dict:
    def plain(summary: str, media: str = "application/json") -> dict:
        return {"get": {"summary": summary, "tags": ["Operations"], "security": [],
                        "operationId": "get_" + summary.split()[0].lower(),
                        "responses": {"200": {"description": "OK", "content": {media: {"schema": {}}}},
                                      "503": {"description": "Not ready", "content": {media: {"schema": {}}}}}}}

    return {"/healthz": plain("Liveness: the process answers"),
            "/readyz": plain("Readiness: the broker and the store answer"),
            "/metrics": plain("Prometheus metrics", "text/plain")}


async def serve_openapi(_request: web.Request) -> web.Response:
    return responses.json_response(openapi_document())


async def serve_docs(_request: web.Request) -> web.Response:
    rows = "".join(
        f"<tr><td><code>{operation.method.upper()}</code></td><td><code>{html.escape(operation.path)}</code></td>"
        f"<td>{html.escape(operation.summary)}{' (deprecated)' if operation.deprecated else ''}</td></tr>"
        for operation in ROUTES
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Agent reliability API</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}td{{padding:.2rem .8rem}}</style></head>
<body><h1>Agent reliability API</h1>
<p>The machine-readable description: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).
Authenticate with <code>Authorization: Bearer thk_…</code>.</p>
<table>{rows}</table>
<h2>Reference</h2>
<redoc spec-url="/api/openapi.json"></redoc>
<script src="{REDOC_PATH}"></script>
</body></html>"""
    return web.Response(text=page, content_type="text/html")


async def serve_redoc(_request: web.Request) -> web.FileResponse:
    """The file's name carries Redoc's version, so browsers may keep it for a year."""
    return web.FileResponse(REDOC, headers={"Cache-Control": "public, max-age=31536000, immutable"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", serve_openapi, allow_head=False)
    app.router.add_get("/api/docs", serve_docs, allow_head=False)
    app.router.add_get(REDOC_PATH, serve_redoc, allow_head=False)
