"""Input checks every API applies to its requests (ids, sizes, names,
descriptions, metadata, update masks); each failure names the field."""

from __future__ import annotations

import uuid

from ember import messages
from ember.errors import InvalidArgument

MAX_NAME = 255
MAX_DESCRIPTION = 4096
MAX_METADATA_ITEMS = 64


def uuid_field(field: str, value: str, required: bool = True) -> str:
    if not value and not required:
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument(field, f"{value!r} is not a UUID" if value else "is required")


def request_id(request) -> str:
    """The request's optional request_id (AIP-155), a UUID when given."""
    return uuid_field("request_id", request.request_id, required=False)


def size_gb(value: int, maximum: int, field: str = "size_gb") -> int:
    if value <= 0:
        raise InvalidArgument(field, f"must be at least 1 GiB, got {value}")
    if value > maximum:
        raise InvalidArgument(field, f"{value} GiB is larger than the largest volume allowed ({maximum} GiB)")
    return value


def text(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidArgument(field, f"longer than {limit} characters")
    return value


def metadata(value, field: str = "metadata") -> dict[str, str]:
    items = dict(value)
    if len(items) > MAX_METADATA_ITEMS:
        raise InvalidArgument(field, f"at most {MAX_METADATA_ITEMS} items, got {len(items)}")
    for key, item in items.items():
        if not key or len(key) > MAX_NAME or len(item) > MAX_NAME:
            raise InvalidArgument(
                field, f"keys must be 1-{MAX_NAME} characters and values at most {MAX_NAME} ({key[:40]!r} is not)"
            )
    return items


UPDATABLE = ("name", "description", "metadata")
METADATA_KEY = "metadata."


def update_fields(message, paths, field: str) -> tuple[dict, dict[str, str | None]]:
    """(fields, metadata keys) an update asks for: name, description and
    metadata replace; a path metadata.<key> sets that key from the message,
    or removes it when the message lacks it."""
    keys = {}
    plain = []
    for path in paths:
        if path.startswith(METADATA_KEY):
            key = path[len(METADATA_KEY):]
            if not key or len(key) > MAX_NAME:
                raise InvalidArgument("update_mask", f"{path!r}: metadata keys are 1-{MAX_NAME} characters")
            keys[key] = message.metadata.get(key)
        else:
            plain.append(path)
    fields = {}
    for path in messages.masked_fields(plain, message, UPDATABLE) if plain or not paths else ():
        if path == "metadata":
            fields[path] = metadata(message.metadata, f"{field}.metadata")
        else:
            limit = MAX_NAME if path == "name" else MAX_DESCRIPTION
            fields[path] = text(f"{field}.{path}", getattr(message, path), limit)
    return fields, keys


def merged(current: dict[str, str], keys: dict[str, str | None]) -> dict[str, str]:
    """`current` with `keys` set (or removed where None), within the limits."""
    result = dict(current)
    for key, value in keys.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return metadata(result)
