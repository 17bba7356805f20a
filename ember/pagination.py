"""AIP-158 paging: page sizes and opaque, tamper-proof page tokens that carry
the last item's sort key."""

from __future__ import annotations

import functools
import hashlib
import hmac

import jwt

from ember.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Per signing secret, the keys of the secrets accepted beside it (see
# accept_also): set once at start, before any list is served.
_also_accepted: dict[bytes, tuple[bytes, ...]] = {}


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


@functools.lru_cache(maxsize=16)
def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"ember-page-token", hashlib.sha256).digest()


def accept_also(secret: bytes, accepted: tuple[bytes, ...]) -> None:
    """Page tokens signed with one of `accepted` are taken wherever `secret`
    signs them: a client paging through a list while auth_secret is rotated
    may get its next page from a process that signs with the other secret."""
    _also_accepted[secret] = tuple(_key(other) for other in accepted)


def _claims(secret: bytes, token: str) -> dict:
    for key in (_key(secret), *_also_accepted.get(secret, ())):
        try:
            return jwt.decode(token, key, algorithms=["HS256"])
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidTokenError:
            break
    raise InvalidArgument("page_token", "not a page token from this list; start again without one")


def encode(secret: bytes, kind: str, created_at: str, last_id: str) -> str:
    return jwt.encode({"k": kind, "c": created_at, "i": last_id}, _key(secret), algorithm="HS256")


def decode(secret: bytes, kind: str, token: str) -> tuple[str, str] | None:
    """(created_at, id) of the last item of the previous page, or None for the first page."""
    if not token:
        return None
    claims = _claims(secret, token)
    if claims.get("k") != kind:
        raise InvalidArgument("page_token", "not a page token from this list; start again without one")
    return claims["c"], claims["i"]


def keyset_page(query, model, kind: str, size: int, token: str, secret: bytes) -> tuple[list, str]:
    """One page of `query` in (created_at, id) order, after the item the
    token names, and the next page's token ('' after the last page)."""
    after = decode(secret, kind, token)
    if after:
        created_at = model.created_at.python_value(after[0])
        query = query.where(
            (model.created_at > created_at) | ((model.created_at == created_at) & (model.id > after[1]))
        )
    rows = list(query.order_by(model.created_at, model.id).limit(size + 1))
    if len(rows) <= size:
        return rows, ""
    last = rows[size - 1]
    return rows[:size], encode(secret, kind, str(last.created_at), last.id)
