"""Two processes' write batches that lock the same rows in opposite orders
deadlock on PostgreSQL, which ends one of them: the writer runs the batch
it ended again, and its callers get their results, not the deadlock."""

import asyncio
import threading

import pytest

from ember import db, writer
from ember.db import QuotaUsage

FIRST = (QuotaUsage.project_id == "p") & (QuotaUsage.resource == "volumes")
SECOND = (QuotaUsage.project_id == "p") & (QuotaUsage.resource == "gigabytes")


def bump(row) -> None:
    QuotaUsage.update(in_use=QuotaUsage.in_use + 1).where(row).execute()


@pytest.fixture
def postgres(postgres_server, tmp_path):
    opened = db.open_database(postgres_server.url(tmp_path))
    writer.start()
    try:
        yield opened
    finally:
        writer.stop()
        opened.close()


async def test_a_batch_ended_to_break_a_deadlock_runs_again(postgres):
    QuotaUsage.create(project_id="p", resource="volumes", in_use=0)
    QuotaUsage.create(project_id="p", resource="gigabytes", in_use=0)
    writer_holds_first, other_holds_second = threading.Event(), threading.Event()

    def unit() -> str:
        bump(FIRST)
        writer_holds_first.set()
        assert other_holds_second.wait(10)
        bump(SECOND)
        return "done"

    def other_process() -> None:
        # Its own connection (peewee's are per thread), and so slow to look
        # for deadlocks that the writer's session is the one PostgreSQL ends.
        with postgres.atomic():
            postgres.execute_sql("SET LOCAL deadlock_timeout = '20s'")
            bump(SECOND)
            other_holds_second.set()
            assert writer_holds_first.wait(10)
            bump(FIRST)
        postgres.close()

    other = threading.Thread(target=other_process)
    other.start()
    try:
        assert await asyncio.wait_for(writer.run(unit), 30) == "done"
    finally:
        other_holds_second.set()
        other.join(30)
    assert not other.is_alive()
    assert (QuotaUsage.get(FIRST).in_use, QuotaUsage.get(SECOND).in_use) == (2, 2), "each change made once"
