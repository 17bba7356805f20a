"""Errors that echo what the caller sent stay small enough for gRPC
trailers: a 70,000-character id once made the answer RESOURCE_EXHAUSTED
"metadata size exceeds limit" instead of INVALID_ARGUMENT (found by
tests/integration/test_bad_input.py)."""

import pytest

from ember import validation
from ember.errors import MAX_MESSAGE, InvalidArgument, NotFound, bounded

# A gRPC client refuses trailers past this ("soft limit") at random, and all past 16 KiB.
TRAILER_SOFT_LIMIT = 8192


def trailer_bytes(error) -> int:
    status = error.to_status()
    message = status.details.encode()
    # grpc-message is percent-encoded: every non-ASCII byte takes three.
    encoded = sum(1 if 0x20 <= b < 0x7f and b != 0x25 else 3 for b in message)
    return encoded + sum(len(k) + len(v) * 4 // 3 for k, v in status.trailing_metadata)


@pytest.mark.parametrize("unit", ["x", "\u00e9", "\U0001f4a9", "\x00"])
def test_an_error_about_a_huge_value_fits_in_trailers_and_still_says_what_is_wrong(unit):
    with pytest.raises(InvalidArgument) as refused:
        validation.uuid_field("id", unit * 70_000)
    error = refused.value
    assert trailer_bytes(error) < TRAILER_SOFT_LIMIT / 2
    assert error.message.startswith("id: '") and error.message.endswith("' is not a UUID")
    assert len(error.message.encode()) <= MAX_MESSAGE


def test_detail_values_are_bounded_too():
    error = NotFound("volume", "\U0001f4a9" * 70_000)
    assert trailer_bytes(error) < TRAILER_SOFT_LIMIT / 2
    assert error.message.endswith(" not found")


def test_short_text_is_left_alone_and_long_text_keeps_both_ends():
    assert bounded("id: 'abc' is not a UUID", 64) == "id: 'abc' is not a UUID"
    cut = bounded("a" * 100 + "\U0001f4a9" * 100 + " the end", 64)
    assert cut.startswith("a" * 29) and cut.endswith(" the end") and "\u2026" in cut
    assert len(cut.encode()) <= 64
