"""Conditional requests (RFC 9110, section 13): an issue's or a fix's `ETag` is its version,
and `If-Match` names the versions a change may apply to."""

import re

from aiohttp import web

from shared.contracts.common import entity_tag

_ENTITY_TAG = r'(?:W/)?"[^"\x00-\x20\x7f]*"'
IF_MATCH = re.compile(rf"^[ \t]*(?:\*|(?:,[ \t]*)*{_ENTITY_TAG}(?:[ \t]*,(?:[ \t]*{_ENTITY_TAG})?)*)[ \t]*$")
_TAGS = re.compile(r'(W/)?"([^"]*)"')
_VERSION = re.compile(r"[1-9][0-9]{0,17}")


def expected_versions(request: web.Request) -> list[int] | None:
    """The versions `If-Match` allows: None without it or with `*` (the resource must exist
    either way). Entity tags compare strongly: a weak one, one that is not ours, or a value
    that is not a list of entity tags matches no version (so the change is refused, 412)."""
    values = request.headers.getall("If-Match", [])
    if not values:
        return None
    value = ", ".join(values)
    if not IF_MATCH.fullmatch(value):
        return []
    if value.strip() == "*":
        return None
    return sorted({int(opaque) for weak, opaque in _TAGS.findall(value) if not weak and _VERSION.fullmatch(opaque)})


def etag(version: int) -> dict[str, str]:
    return {"ETag": entity_tag(version)}
