"""API keys: `thk_` followed by 40 random characters, stored only as a SHA-256 hash.

A key carries 238 bits of randomness, so a fast hash is enough: nobody can guess a key from
its hash, and verifying one costs a single lookup.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass

from shared.contracts.common import new_id

KEY_PREFIX = "thk_"
KEY_PATTERN = re.compile(r"^thk_[A-Za-z0-9_-]{16,128}$")
WORKSPACE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the workspace a key belongs to, the key's public id and its owner."""

    workspace: str
    key_id: str
    owner: str


@dataclass(frozen=True)
class IssuedKey:
    secret: str
    principal: Principal


def issue_key(workspace: str, owner: str | None = None) -> IssuedKey:
    if not WORKSPACE_PATTERN.match(workspace):
        raise ValueError("a workspace name is 1-63 lowercase letters, digits, '-' or '_'")
    key_id = new_id("key", 12)
    secret = KEY_PREFIX + secrets.token_urlsafe(30)
    return IssuedKey(secret, Principal(workspace, key_id, owner or key_id))


def is_well_formed(secret: str) -> bool:
    return bool(KEY_PATTERN.match(secret))


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
