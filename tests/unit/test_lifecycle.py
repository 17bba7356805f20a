"""A service's parts start in order and stop in reverse within a deadline,
and periodic work runs, wakes, survives failures and stops when told."""

import asyncio
import logging
import time

import pytest

from ember import lifecycle
from ember.lifecycle import Step, start_all, stop_all
from ember.periodic import Done, Periodic


def recording(name: str, log: list, fail_start: bool = False, stop_takes: float = 0.0) -> Step:
    async def start():
        if fail_start:
            raise RuntimeError(f"{name} cannot start")
        log.append(f"start {name}")

    async def stop():
        await asyncio.sleep(stop_takes)
        log.append(f"stop {name}")

    return Step(name, start, stop)


async def test_parts_start_in_order_and_stop_in_reverse():
    log = []
    started = await start_all([recording(n, log) for n in "abc"])
    await stop_all(reversed(started), time.monotonic() + 5)
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_a_part_that_cannot_start_stops_those_started_before_it():
    log = []
    with pytest.raises(RuntimeError, match="b cannot start"):
        await start_all([recording("a", log), recording("b", log, fail_start=True), recording("c", log)])
    assert log == ["start a", "stop a"]


async def test_a_stuck_part_is_skipped_and_the_parts_after_it_still_stop(monkeypatch, caplog):
    monkeypatch.setattr(lifecycle, "LEAST", 0.05)
    log = []
    parts = [recording("stuck", log, stop_takes=60), recording("next", log)]
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        await stop_all(parts, time.monotonic() + 0.2)
    assert log == ["stop next"]
    assert time.monotonic() - began < 5
    assert "stuck did not finish" in caplog.text


async def test_a_part_whose_stop_fails_does_not_keep_the_others_running(caplog):
    async def broken():
        raise OSError("gone")

    log = []
    await stop_all([Step("broken", on_stop=broken), recording("next", log)], time.monotonic() + 5)
    assert log == ["stop next"] and "broken failed" in caplog.text


async def until(condition, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.005)


async def test_periodic_work_runs_each_interval_and_goes_on_after_a_failure(caplog):
    runs = []

    async def step():
        runs.append(time.monotonic())
        if len(runs) == 2:
            raise ValueError("second run fails")

    work = Periodic("test work", 0.02, step)
    began = time.monotonic()
    await work.start()
    await until(lambda: len(runs) >= 4)
    await work.stop()
    assert runs[0] - began >= 0.02, "the first run waits one interval"
    assert "test work failed" in caplog.text and "second run fails" in caplog.text
    count = len(runs)
    await asyncio.sleep(0.1)
    assert len(runs) == count, "nothing runs after stop()"


async def test_expected_failures_are_one_line_and_immediately_runs_at_start(caplog):
    runs = []

    async def step():
        runs.append(1)
        raise ConnectionError("bus away")

    work = Periodic("quiet work", 60, step, immediately=True, expected=(ConnectionError,))
    await work.start()
    await until(lambda: runs)
    await work.stop()
    assert "quiet work failed: bus away" in caplog.text and "Traceback" not in caplog.text


async def test_a_poke_brings_the_next_run_forward_but_runs_stay_min_gap_apart():
    runs = []

    async def step():
        runs.append(time.monotonic())

    work = Periodic("poked work", 60, step, min_gap=0.1)
    await work.start()
    work.poke()
    await until(lambda: len(runs) == 1)
    for _ in range(5):
        work.poke()
    await until(lambda: len(runs) == 2)
    await asyncio.sleep(0.15)
    await work.stop()
    assert len(runs) == 2, "a burst of pokes costs one run"
    assert runs[1] - runs[0] >= 0.1


async def test_a_step_raising_done_ends_the_work():
    runs = []

    async def step():
        runs.append(1)
        raise Done

    work = Periodic("finite work", 0.01, step)
    await work.start()
    await until(lambda: runs)
    await asyncio.sleep(0.1)
    assert runs == [1]
    await work.stop()


async def test_stop_returns_while_a_wake_up_and_the_cancel_race():
    async def step():
        pass

    for _ in range(50):
        work = Periodic("racing work", 0.001, step)
        await work.start()
        await asyncio.sleep(0.001)
        work.poke()
        await asyncio.wait_for(work.stop(), 2)
