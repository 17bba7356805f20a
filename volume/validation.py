"""Input checks for VolumeService requests; each failure names the field."""

from __future__ import annotations

import uuid

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


def size_gb(value: int, maximum: int) -> int:
    if value <= 0:
        raise InvalidArgument("size_gb", f"must be at least 1 GiB, got {value}")
    if value > maximum:
        raise InvalidArgument("size_gb", f"{value} GiB is larger than the largest volume allowed ({maximum} GiB)")
    return value


def text(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidArgument(field, f"longer than {limit} characters")
    return value


def metadata(value) -> dict[str, str]:
    items = dict(value)
    if len(items) > MAX_METADATA_ITEMS:
        raise InvalidArgument("metadata", f"at most {MAX_METADATA_ITEMS} items")
    for key, item in items.items():
        if not key or len(key) > MAX_NAME or len(item) > MAX_NAME:
            raise InvalidArgument("metadata", f"keys must be 1-{MAX_NAME} characters and values at most {MAX_NAME}")
    return items
