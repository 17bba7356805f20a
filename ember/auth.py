"""Signed tokens: user bearer tokens (project, user, roles, expiry) and the
short-lived internal identity the gateway passes to services."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import os
import pathlib
import secrets
import time

import jwt

ISSUER = "ember"
USER_AUDIENCE = "ember-api"
INTERNAL_AUDIENCE = "ember-internal"
INTERNAL_METADATA_KEY = "x-ember-identity"
INTERNAL_TTL = 300.0
ADMIN_ROLE = "admin"
_ALGORITHM = "HS256"
# Checking a signature costs more than the rest of a proxied call, and a
# client sends the same token with every call: verified tokens are kept until
# they expire (under the keys that admitted them), and the gateway reuses an
# internal token for half its life.
CACHE_SIZE = 4096
_verified: dict[tuple[tuple[bytes, ...], str, str], tuple["Identity", float]] = {}
_issued: dict[tuple[bytes, "Identity"], tuple[str, float]] = {}


class InvalidToken(Exception):
    """The token is missing, malformed, forged or expired; str() says which."""


@dataclasses.dataclass(frozen=True)
class Identity:
    project_id: str
    user_id: str
    roles: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


def load_secret(secret: str, data_dir: pathlib.Path, create: bool = False) -> bytes:
    """The configured secret, else the data dir's auth.key (made when create is set)."""
    if secret:
        return secret.encode()
    path = data_dir / "auth.key"
    if create and not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    try:
        return path.read_text().strip().encode()
    except FileNotFoundError:
        raise SystemExit(f"no signing secret: set EMBER_AUTH_SECRET or create {path} (ember up does)")


def load_accepted(setting: str) -> tuple[bytes, ...]:
    """The secrets of auth_secrets_accepted (comma separated): tokens they
    signed are admitted beside the signing secret's, so that auth_secret can
    be rotated one process at a time (docs/security.md)."""
    return tuple(dict.fromkeys(part.strip().encode() for part in setting.split(",") if part.strip()))


def _internal_key(secret: bytes) -> bytes:
    # A separate key, so a leaked internal header can never pass as a user token.
    return hmac.new(secret, b"ember-internal-identity", hashlib.sha256).digest()


@functools.lru_cache(maxsize=64)
def _internal_keys(signing: tuple[bytes, ...]) -> tuple[bytes, ...]:
    # Derived once per set of secrets rather than with every call a service admits.
    return tuple(_internal_key(secret) for secret in signing)


def _encode(identity: Identity, key: bytes, audience: str, ttl: float) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": audience,
        "sub": identity.user_id,
        "project": identity.project_id,
        "roles": list(identity.roles),
        "iat": now,
        "exp": now + int(ttl),
    }
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def _remember(cache: dict, key, value) -> None:
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value


def _claims(token: str, keys: tuple[bytes, ...], audience: str) -> dict:
    """The claims of `token` signed with any of `keys`, tried in order: the
    signing secret's first, so that only tokens of an accepted one cost more."""
    for key in keys:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.InvalidSignatureError as exc:
            unsigned = exc
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired")
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid token: {exc}")
    raise InvalidToken(f"invalid token: {unsigned}")


def _decode(token: str, keys: tuple[bytes, ...], audience: str) -> Identity:
    cached = _verified.get((keys, audience, token))
    if cached and cached[1] > time.time():
        return cached[0]
    claims = _claims(token, keys, audience)
    project = claims.get("project")
    if not isinstance(project, str) or not project:
        raise InvalidToken("invalid token: no project")
    identity = Identity(project_id=project, user_id=claims["sub"], roles=tuple(claims.get("roles") or ()))
    _remember(_verified, (keys, audience, token), (identity, claims["exp"]))
    return identity


def create_token(identity: Identity, secret: bytes, ttl: float) -> str:
    return _encode(identity, secret, USER_AUDIENCE, ttl)


def verify_token(token: str, secret: bytes, accepted: tuple[bytes, ...] = ()) -> Identity:
    """The identity of a user token signed with `secret` or one of `accepted`."""
    return _decode(token, (secret, *accepted), USER_AUDIENCE)


def create_internal(identity: Identity, secret: bytes) -> str:
    issued = _issued.get((secret, identity))
    if issued and issued[1] - time.time() > INTERNAL_TTL / 2:
        return issued[0]
    token = _encode(identity, _internal_key(secret), INTERNAL_AUDIENCE, INTERNAL_TTL)
    _remember(_issued, (secret, identity), (token, time.time() + INTERNAL_TTL))
    return token


def verify_internal(token: str, secret: bytes, accepted: tuple[bytes, ...] = ()) -> Identity:
    """The identity an Ember process signed with `secret` or one of `accepted`."""
    return _decode(token, _internal_keys((secret, *accepted)), INTERNAL_AUDIENCE)


def bearer(metadata) -> str:
    """The token of an `authorization: Bearer ...` header, or ''."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""
