"""Helpers for messages every API builds or reads: timestamps, and the
fields an update_mask (AIP-134) names."""

from __future__ import annotations

import datetime

from google.protobuf import timestamp_pb2

from ember.errors import InvalidArgument


def timestamp(value: datetime.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def masked_fields(paths, message, updatable: tuple[str, ...]) -> list[str]:
    """The fields to change: those the mask names, or with an empty mask
    every updatable field the message sets (a non-default value)."""
    if not paths:
        present = {field.name for field, _ in message.ListFields()}
        return [f for f in updatable if f in present]
    unknown = [p for p in paths if p not in updatable]
    if unknown:
        raise InvalidArgument(
            "update_mask", f"cannot update {', '.join(unknown)}; updatable: {', '.join(updatable)}"
        )
    return list(dict.fromkeys(paths))
