"""Tests that need a tool from outside Python skip where it is missing, and
fail instead where CI set the EMBER_REQUIRE_* variable that makes it mandatory."""

from __future__ import annotations

import os

import pytest


def missing(reason: str, required_by: str) -> None:
    """Ends the test: skipped with `reason`, or failed if `required_by` is set."""
    if os.environ.get(required_by):
        pytest.fail(f"{required_by} is set but {reason}")
    pytest.skip(reason)
