"""Building blocks of every contract: camelCase JSON, UTC timestamps, pages, versions."""

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    computed_field,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision and a `Z`, as JavaScript's toISOString."""
    return _as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


def utc_now() -> datetime:
    """Now, truncated to the millisecond precision that BSON dates keep."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


INT64 = (-(2**63), 2**63 - 1)


def storable(value: Any, path: str = "") -> Any:
    """Checks that free-form JSON can be stored as it is: integers fit in 64 bits and keys
    hold no NUL character (what MongoDB cannot keep)."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
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


def distinct[T](values: list[T]) -> list[T]:
    """`values` without repeats, in their first order."""
    return list(dict.fromkeys(values))


class ContractModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

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
