"""Building blocks of every contract: camelCase JSON, UTC timestamps, pages, versions."""

import math
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    StringConstraints,
    WithJsonSchema,
    computed_field,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")


def _iso_8601(value: Any) -> Any:
    """A timestamp arrives as an ISO-8601 date and time (`2025-08-15T10:00:00Z`), never as a
    number of seconds, a bare date or another shape that pydantic would also take."""
    if isinstance(value, datetime) or (isinstance(value, str) and ISO_8601.match(value)):
        return value
    raise ValueError("must be an ISO-8601 date and time such as 2025-08-15T10:00:00Z")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once moved to UTC (years 1 to 9999)") from None


def format_timestamp(value: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision and a `Z`, as JavaScript's toISOString."""
    return _as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_8601),
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": ISO_8601.pattern}),
]
"""An ISO-8601 date and time; without an offset it is taken as UTC."""


def utc_now() -> datetime:
    """Now, truncated to the millisecond precision that BSON dates keep."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


INT64 = (-(2**63), 2**63 - 1)
Int64 = Annotated[int, Field(ge=INT64[0], le=INT64[1])]
"""An integer BSON can store (int64)."""


def trimmed(max_length: int) -> Any:
    """Text without surrounding whitespace, holding at least one other character (a pattern,
    so that the JSON schema says so too)."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length, pattern=r"\S")]


def storable(value: Any, path: str = "") -> Any:
    """Checks that free-form JSON can be stored as it is: integers fit in 64 bits, numbers are
    finite and keys hold no NUL character (what MongoDB and JSON cannot keep)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path or 'value'}: numbers must be finite")
        return value
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{path or 'value'}: integers must fit in 64 bits")
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError(f"{path or 'object'}: keys cannot contain a NUL character")
            storable(item, f"{path}.{key}" if path else key)
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            storable(item, f"{path}.{index}" if path else str(index))
    return value


FreeForm = Annotated[dict[str, Any], AfterValidator(storable)]


def storable_json_schema(ref: str) -> dict[str, Any]:
    """What `storable` keeps, as a JSON schema that refers to itself at `ref`."""
    return {
        "description": "Any JSON value MongoDB can keep: integers within 64 bits, finite numbers, "
                       "object keys without a NUL character",
        "anyOf": [
            {"type": ["string", "boolean", "null"]},
            {"type": "integer", "minimum": INT64[0], "maximum": INT64[1]},
            {"type": "number", "not": {"type": "integer"}},
            {"type": "array", "items": {"$ref": ref}},
            {"type": "object", "propertyNames": {"pattern": "^[^\u0000]*$"}, "additionalProperties": {"$ref": ref}},
        ],
    }


def distinct[T](values: list[T]) -> list[T]:
    """`values` without repeats, in their first order."""
    return list(dict.fromkeys(values))


class ContractModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error; numbers are finite."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False)

    def to_wire(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def _patch_schema(schema: dict) -> None:
    for field in schema.get("properties", {}).values():
        choices = [choice for choice in field.pop("anyOf", []) if choice.get("type") != "null"]
        if len(choices) == 1:
            field.update(choices[0])
        elif choices:
            field["anyOf"] = choices
        field.pop("default", None)
    schema["minProperties"] = 1


class PatchModel(ContractModel):
    """A PATCH body: only the fields present change, `null` is not a value, and at least one
    field is given. It travels with only the fields given."""

    model_config = ConfigDict(json_schema_extra=_patch_schema)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep it as it is")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            fields = ", ".join(field.alias or name for name, field in type(self).model_fields.items())
            raise ValueError(f"provide at least one of: {fields}")
        return self

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields = type(self).model_fields
        given = {fields[name].alias or name for name in self.model_fields_set} | self.model_fields_set
        return {key: value for key, value in handler(self).items() if key in given}

    def given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


FIRST_VERSION = 1
"""The version of every aggregate as created; each change, visible or not, adds one."""

ExpectedVersions = list[Annotated[int, Field(ge=FIRST_VERSION)]] | None
"""The versions a conditional change may apply to (HTTP `If-Match`); None: whatever the version.
An empty list matches no version (the caller named only entity tags that are not ours)."""


def entity_tag(version: int) -> str:
    """The HTTP `ETag` of a resource at `version`: a strong entity tag, the version quoted."""
    return f'"{version}"'


class PageRequest(ContractModel):
    """`page` from 1; `limit` items per page, 20 unless given, at most 100."""

    page: int = Field(default=1, ge=1, le=1_000_000)
    limit: int = Field(default=20, ge=1, le=100)


class Page[T](ContractModel):
    items: list[T]
    page: int
    limit: int
    total: int

    @computed_field
    @property
    def has_more(self) -> bool:
        return self.page * self.limit < self.total


_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 16) -> str:
    """A resource id: the spec's prefix, `_`, then `length` random lowercase alphanumerics.

    Sixteen characters carry 82 bits: at ten million ids the chance of any collision is about
    one in 10^10, and a collision is retried by the store's unique index anyway.
    """
    return f"{prefix}_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))
