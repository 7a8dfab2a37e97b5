"""Turning an HTTP request's body, query and headers into a validated contract."""

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from services.gateway.entrypoints.http import strict_json
from shared.contracts.errors import ErrorDetail, InvalidRequest, invalid_request

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise InvalidRequest("Request body is empty; send a JSON object")
    body = strict_json.parse(raw)
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object")
    return body


def path_params(request: web.Request) -> dict[str, str]:
    """The path's parameters by their wire names (the router names them in snake_case, see `routes.Route`)."""
    return {to_camel(name): value for name, value in request.match_info.items()}


def query_params(request: web.Request) -> dict[str, str]:
    repeated = sorted({key for key in request.query if len(request.query.getall(key)) > 1})
    if repeated:
        raise InvalidRequest(
            f"Query parameter given more than once: {', '.join(repeated)}",
            [ErrorDetail(field=key, message="given more than once") for key in repeated],
        )
    return dict(request.query)


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidRequest("Idempotency-Key must be 1-255 visible ASCII characters")
    return key


def validated[M: BaseModel](model: type[M], data: Any, where: str = "body") -> M:
    """The model, from its wire (camelCase) names only."""
    try:
        return model.model_validate(data, by_name=False)
    except ValidationError as error:
        raise invalid_request(error, where) from None
