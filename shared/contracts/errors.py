"""Typed errors that travel from a service back to its caller.

A service raises an `ExpectedError` subclass for anything that is the caller's fault or a
known state of the world (not found, conflict, invalid input); the command consumer turns it
into an error reply, and the gateway turns that into an HTTP status. Anything else is a bug
and is answered with `INTERNAL_ERROR`.
"""

from enum import StrEnum

from pydantic import BaseModel, ValidationError

from shared.contracts.common import entity_tag


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    URI_TOO_LONG = "URI_TOO_LONG"
    RATE_LIMITED = "RATE_LIMITED"
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    TIMEOUT = "TIMEOUT"


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    details: list[ErrorDetail] | None = None


class ExpectedError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, details: list[ErrorDetail] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.message, details=self.details)


class InvalidRequest(ExpectedError):
    code = ErrorCode.VALIDATION_ERROR


class NotFound(ExpectedError):
    code = ErrorCode.NOT_FOUND


class Forbidden(ExpectedError):
    """A well-formed request for something the server refuses to do (call a private address)."""

    code = ErrorCode.FORBIDDEN


class Conflict(ExpectedError):
    code = ErrorCode.CONFLICT


class Contended(Conflict):
    """A document kept changing under concurrent writes: trying again later will do (a command
    answers 409; an event handler retries in place)."""


class PreconditionFailed(ExpectedError):
    """A conditional change (HTTP `If-Match`) found the resource at another version than the
    caller named: it changed since it was read."""

    code = ErrorCode.PRECONDITION_FAILED

    def __init__(self, what: str, version: int):
        super().__init__(f"{what} changed since it was read; its current ETag is {entity_tag(version)}. "
                         "Read it again and retry with that ETag in If-Match")


class PayloadTooLarge(ExpectedError):
    code = ErrorCode.PAYLOAD_TOO_LARGE


class Unavailable(ExpectedError):
    code = ErrorCode.SERVICE_UNAVAILABLE


class UpstreamFailed(ExpectedError):
    """A third party we call (the model endpoint) failed, after retries."""

    code = ErrorCode.UPSTREAM_ERROR


class DeadlineExceeded(ExpectedError):
    code = ErrorCode.TIMEOUT


class RemoteError(ExpectedError):
    """An error reply from another service, re-raised on the caller's side with its code."""

    def __init__(self, body: ErrorBody):
        super().__init__(body.message, body.details)
        self.code = body.code


def invalid_request(error: ValidationError, where: str = "body", prefix: str = "") -> InvalidRequest:
    """A pydantic validation error as an `InvalidRequest` naming each field by its wire name."""
    details = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in (*filter(None, [prefix]), *item["loc"])) or where
        if item["type"] == "extra_forbidden":
            text = "unknown field" if where == "body" else "unknown parameter"
        elif item["type"] == "missing":
            text = "is required"
        else:
            text = item["msg"].removeprefix("Value error, ")
        details.append(ErrorDetail(field=field, message=text))
    summary = "; ".join(f"{detail.field}: {detail.message}" for detail in details)
    return InvalidRequest(f"Invalid request {where}: {summary}", details)
