"""A long backup task keeps its message, outbox row and lock fresh while it
moves, and stops once it is stuck, so that it can be redelivered."""

import asyncio
import datetime
import time

from backup import keepalive
from backup.keepalive import KeepAlive
from ember import operations, writer
from ember.auth import Identity
from ember.bus import Delivery
from ember.db import Operation, utcnow
from ember.outbox import Task


class FakeLock:
    def __init__(self):
        self.refreshed = 0

    def refresh(self):
        self.refreshed += 1


async def test_beats_while_the_work_moves_and_stops_when_it_is_stuck(database, monkeypatch):
    writer.start()
    op_id = operations.new_id()
    task = Task("ember.tasks.backup.backup", op_id, {"verb": "backup"})
    operations.new(Identity("p", "u"), "CreateBackup", "b", None, op_id, task, 0.0)
    working = []

    async def in_progress():
        working.append(1)

    alive = KeepAlive(Delivery("s", {}, 1, False, in_progress), op_id, every=0.02, retry_after=60.0)
    alive.lock = FakeLock()
    monkeypatch.setattr(keepalive, "STALL", 0.2)
    async with alive.running():
        deadline = time.monotonic() + 10
        while len(working) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.03)
            alive()
        assert len(working) >= 5
        assert Operation.get_by_id(op_id).publish_after > utcnow() + datetime.timedelta(seconds=50)
        seen = None
        while len(working) != seen and time.monotonic() < deadline:
            seen = len(working)
            await asyncio.sleep(keepalive.STALL + 0.3)
        assert len(working) == seen, "a stuck task stops beating"
        # Read only once the beats stopped: mid-beat the message is
        # already touched while the lock's refresh is still in its thread.
        assert alive.lock.refreshed == seen
