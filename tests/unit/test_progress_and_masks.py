"""Copy progress is reported in steps, not per chunk; update masks name
fields or single metadata keys."""

import asyncio

import pytest

from ember import progress, validation
from ember.errors import InvalidArgument
from ember.v1 import volume_pb2


async def test_progress_reports_every_few_percent(monkeypatch):
    reported = []

    async def report(self, percent, done, total):
        reported.append(percent)

    monkeypatch.setattr(progress.Progress, "_report", report)
    tracker = progress.Progress(None, asyncio.get_running_loop(), "op", "volumes", "v")
    for done in range(0, 101):
        await asyncio.to_thread(tracker, done, 100)
    await asyncio.sleep(0)
    assert reported == list(range(5, 100, 5))


def test_update_fields_from_a_mask():
    volume = volume_pb2.Volume(id="x", name="n", description="d", metadata={"a": "1", "c": "3"})
    assert validation.update_fields(volume, [], "volume") == (
        {"name": "n", "description": "d", "metadata": {"a": "1", "c": "3"}}, {}
    )
    fields, keys = validation.update_fields(volume, ["name", "metadata.a", "metadata.b"], "volume")
    assert fields == {"name": "n"} and keys == {"a": "1", "b": None}
    assert validation.merged({"b": "2", "z": "9"}, keys) == {"a": "1", "z": "9"}
    with pytest.raises(InvalidArgument, match="cannot update size_gb"):
        validation.update_fields(volume, ["size_gb"], "volume")
    with pytest.raises(InvalidArgument, match="metadata keys are"):
        validation.update_fields(volume, ["metadata."], "volume")
    with pytest.raises(InvalidArgument, match="at most 64"):
        validation.merged({f"k{i}": "v" for i in range(64)}, {"new": "v"})
