"""Ember's one retry policy: the back-off it waits, and a retried call that
ends with a result, or with its own last error once its time is up."""

import logging
import time

import pytest
import tenacity

from ember import retry
from ember.retry import REDELIVERY, Backoff


def test_backoff_doubles_from_first_up_to_its_cap():
    assert [Backoff(first=0.5, cap=3.0).delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [REDELIVERY.delay(n) for n in (1, 2, 3, 4, 5, 9)] == [2, 4, 8, 16, 30, 30]


async def test_patiently_retries_what_it_is_told_to_and_returns_the_result(caplog):
    calls = []

    async def flaky(value):
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")
        return value

    with caplog.at_level(logging.INFO):
        assert await retry.patiently("flaky", ConnectionError, Backoff(0.01, 0.02), 5, flaky, "v") == "v"
    assert len(calls) == 3 and "flaky: not yet; trying again" in caplog.text


async def test_patiently_passes_other_errors_at_once_and_its_own_error_when_time_is_up():
    async def wrong():
        raise KeyError("k")

    with pytest.raises(KeyError):
        await retry.patiently("wrong", ConnectionError, Backoff(0.01, 0.02), 5, wrong)

    async def down():
        raise ConnectionError("down")

    began = time.monotonic()
    with pytest.raises(ConnectionError, match="down"):
        await retry.patiently("down", ConnectionError, Backoff(0.01, 0.02), 0.2, down)
    assert time.monotonic() - began < 2


def test_a_policy_gives_up_when_told_and_runs_then_before_each_wait():
    between = []
    attempts = []

    def attempt():
        attempts.append(1)
        raise OSError("refused")

    policy = retry.policy("port", OSError, Backoff(0.001, 0.001), 30, give_up=lambda: len(attempts) >= 3,
                          then=lambda: between.append(1))
    with pytest.raises(OSError):
        tenacity.Retrying(**policy)(attempt)
    assert len(attempts) == 3 and len(between) == 2
