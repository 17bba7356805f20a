"""Group commit: units queued together share one transaction, a failing unit
changes nothing and gets its own exception, results arrive after commit."""

import asyncio
import contextvars
import threading
import uuid

import pytest

from ember import writer
from ember.db import Volume, VolumeType, database as proxy

request_project: contextvars.ContextVar[str] = contextvars.ContextVar("request_project")


def add_volume(volume_id: str) -> str:
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    Volume.create(
        id=volume_id, project_id=request_project.get("none"), user_id="u", size_gb=1, status="available",
        volume_type=default.id, volume_type_name=default.name,
    )
    return volume_id


def add_then_fail(volume_id: str) -> None:
    add_volume(volume_id)
    raise ValueError("refused")


async def test_results_come_back_after_commit_and_failures_stay_alone(database):
    writer.start()
    ids = [str(uuid.uuid4()) for _ in range(20)]
    bad = str(uuid.uuid4())
    results = await asyncio.gather(
        *(writer.run(add_volume, i) for i in ids[:10]),
        writer.run(add_then_fail, bad),
        *(writer.run(add_volume, i) for i in ids[10:]),
        return_exceptions=True,
    )
    assert results[:10] == ids[:10] and results[11:] == ids[10:]
    assert isinstance(results[10], ValueError) and str(results[10]) == "refused"
    assert {v.id for v in Volume.select()} == set(ids)


async def test_concurrent_units_share_transactions(database, monkeypatch):
    commits = []
    real_commit = writer._commit
    monkeypatch.setattr(writer, "_commit", lambda batch: (commits.append(len(batch)), real_commit(batch)))
    writer.start()
    await asyncio.gather(*(writer.run(add_volume, str(uuid.uuid4())) for _ in range(200)))
    assert sum(commits) == 200
    assert len(commits) < 200


async def test_units_see_the_callers_context(database):
    writer.start()
    request_project.set("proj-ctx")
    volume_id = await writer.run(add_volume, str(uuid.uuid4()))
    assert Volume.get_by_id(volume_id).project_id == "proj-ctx"


async def test_a_failed_commit_fails_every_unit_of_the_batch(database, monkeypatch):
    writer.start()
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        release.wait(10)

    pending = []  # how many volumes each commit would have made

    def broken_commit():
        pending.append(Volume.select().count())
        raise OSError("disk full")

    monkeypatch.setattr(proxy.obj, "commit", broken_commit)
    held = asyncio.ensure_future(writer.run(hold))
    try:
        assert await asyncio.to_thread(inside.wait, 10), "the writer never ran the first unit"
        # Queued while the writer is busy with the batch before, so the next
        # batch takes all five.
        batch = [asyncio.ensure_future(writer.run(add_volume, str(uuid.uuid4()))) for _ in range(5)]
        await asyncio.sleep(0)
    finally:
        release.set()
    results = await asyncio.gather(held, *batch, return_exceptions=True)
    monkeypatch.undo()
    assert [(type(r), str(r)) for r in results] == [(OSError, "disk full")] * 6
    assert pending == [0, 5], "the five volumes were not one batch with one commit"
    assert Volume.select().count() == 0


async def test_run_before_start_is_an_error(database):
    with pytest.raises(RuntimeError, match="not started"):
        await writer.run(add_volume, str(uuid.uuid4()))


async def test_writer_survives_a_caller_whose_loop_closed(database):
    """A result for a loop that has gone must not stop the writer."""
    writer.start()
    gone = asyncio.new_event_loop()
    orphan = gone.create_future()
    gone.close()
    writer._queue.put((contextvars.copy_context(), add_volume, (str(uuid.uuid4()),), gone, orphan))
    volume_id = await asyncio.wait_for(writer.run(add_volume, str(uuid.uuid4())), 10)
    assert Volume.get_by_id(volume_id)
    assert Volume.select().count() == 2
