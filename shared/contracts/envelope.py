"""The envelope every message on the bus travels in, and the reply to a command."""

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.contracts.common import Timestamp, utc_now
from shared.contracts.errors import ErrorBody


class Envelope(BaseModel):
    """A command or an event, as JSON.

    `message_id` identifies the message itself: a redelivered or re-sent copy keeps it, so
    consumers use it to apply a message at most once. `correlation_id` follows the user's
    request (its `X-Request-Id`) through every service. `workspace` is the tenant the message
    acts for; `actor` is the API key that caused it, if any.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    message_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=128)
    workspace: str = Field(min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=128)
    time: Timestamp = Field(default_factory=utc_now)
    actor: str | None = None
    payload: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> "Envelope":
        return cls.model_validate_json(body)


class Reply(BaseModel):
    """The answer to a command: `data` when it succeeded, `error` when it did not."""

    ok: bool
    data: Any = None
    error: ErrorBody | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> "Reply":
        return cls.model_validate_json(body)
