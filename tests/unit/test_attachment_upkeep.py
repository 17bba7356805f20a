"""A storage host's upkeep of its attachments: reservations nobody completed
are released after the timeout (judged by the database's clock, whatever
the hosts' clocks say), and exports that cannot be served are marked
failed, retried with back-off, and cleared once they run again."""

import contextlib
import datetime
import time
import uuid

import pytest

from ember import db, writer
from ember.db import Attachment, database_now
from ember.errors import EmberError
from ember.testing import FakeBus
from tests.unit.test_attachments import ALICE, CONNECTOR, attach, make_volume, reserve, status
from volume import attachment_upkeep, attachments
from volume.attachment_keeper import AttachmentKeeper

INFO = {"driver_volume_type": "nbd", "data": {"port": "10809"}}


def age(attachment_id: str, seconds: float) -> None:
    Attachment.update(pending_since=database_now() - datetime.timedelta(seconds=seconds)).where(
        Attachment.id == attachment_id).execute()


def exporting(volume_id: str) -> str:
    held = reserve(volume_id)
    attachments.begin_export(ALICE, held.id, CONNECTOR)
    return held.id


def test_reservations_left_past_the_timeout_are_claimed_with_the_reason(database):
    volume_id, request_id = make_volume(), str(uuid.uuid4())
    held = reserve(volume_id, request_id=request_id)
    assert attachment_upkeep.claim_abandoned("host-a", 60) == []
    assert not attachment_upkeep.any_abandoned("host-a", 60)
    age(held.id, 61)
    assert attachment_upkeep.any_abandoned("host-a", 60)
    assert attachment_upkeep.claim_abandoned("host-b", 60) == [], "only the host's own"
    (claimed,) = attachment_upkeep.claim_abandoned("host-a", 60)
    assert claimed.status == "detaching" and "stayed reserved for over 60 s" in claimed.status_detail
    attachments.finish_delete(claimed.id)
    assert status(volume_id) == "available"
    with pytest.raises(EmberError) as retried:
        reserve(volume_id, request_id=request_id)
    assert retried.value.reason == "ATTACHMENT_RELEASED"


def test_attaching_counts_from_the_export_and_completed_ones_stay(database):
    volume_id = make_volume(multiattach=True)
    late, done = reserve(volume_id), exporting(volume_id)
    age(late.id, 600)
    attachments.begin_export(ALICE, late.id, CONNECTOR)
    assert attachment_upkeep.claim_abandoned("host-a", 60) == [], "moving on to attaching restarts the clock"
    attachments.store_export(done, INFO)
    attachments.complete(ALICE, done)
    age(late.id, 61)
    age(done, 61)
    assert [a.id for a in attachment_upkeep.claim_abandoned("host-a", 60)] == [late.id]
    assert attachments.get(ALICE, done).status == "attached"


@contextlib.contextmanager
def clock_of_this_host(skew: datetime.timedelta):
    """This process's clock off by `skew`; the database's (SQLite's own
    'now', as a server's would be) is not."""
    real = db.utcnow
    skewed = lambda: real() + skew  # noqa: E731
    modules = (db, attachments, attachment_upkeep)
    saved = [m.utcnow for m in modules]
    for m in modules:
        m.utcnow = skewed
    try:
        yield
    finally:
        for m, original in zip(modules, saved):
            m.utcnow = original


def test_a_compute_host_with_a_slow_clock_is_not_released_early(database):
    volume_id = make_volume()
    with clock_of_this_host(-datetime.timedelta(hours=2)):
        held = reserve(volume_id)
    assert attachment_upkeep.claim_abandoned("host-a", 900) == []
    with clock_of_this_host(datetime.timedelta(hours=2)):
        assert attachment_upkeep.claim_abandoned("host-a", 900) == [], "nor by a storage host whose clock is fast"
    assert attachments.get(ALICE, held.id).status == "reserved"


def test_export_failures_are_news_once_per_reason_and_cleared_by_an_export(database):
    volume_id = make_volume()
    attachment_id = attach(volume_id)
    first = attachment_upkeep.mark_export_failed(attachment_id, "nbdkit: not found")
    assert first.export_failed_at is not None and first.status_detail == "nbdkit: not found"
    assert attachment_upkeep.mark_export_failed(attachment_id, "nbdkit: not found") is None
    changed = attachment_upkeep.mark_export_failed(attachment_id, "nbdkit: permission denied")
    assert changed.export_failed_at == first.export_failed_at, "since the first failure"
    assert attachment_upkeep.clear_export_failure(attachment_id).export_failed_at is None
    assert attachment_upkeep.clear_export_failure(attachment_id) is None
    attachment_upkeep.mark_export_failed(attachment_id, "again")
    stored = attachments.store_export(attachment_id, INFO)
    assert stored.export_failed_at is None and stored.status_detail == ""
    assert attachment_upkeep.mark_export_failed(exporting(make_volume()) + "-gone", "x") is None


class FakeExports:
    """Exports whose `running` and `export` the test decides."""

    def __init__(self):
        self.running_ids, self.broken, self.exported, self.unexported = set(), "", [], []

    def lock(self, export_id):
        return contextlib.nullcontext()

    def running(self, attachment):
        return attachment.id in self.running_ids

    def export(self, attachment, volume, transport):
        if self.broken:
            raise RuntimeError(self.broken)
        self.exported.append(attachment.id)
        self.running_ids.add(attachment.id)
        return dict(attachment.connection_info, data={"port": "10810"})

    def unexport(self, attachment):
        self.unexported.append(attachment.id)
        self.running_ids.discard(attachment.id)


@pytest.fixture
def keeper(database):
    writer.start()
    return AttachmentKeeper("host-a", FakeExports(), FakeBus(), reserve_timeout=60, retry_max=8)


async def test_the_keeper_retries_a_failing_export_with_back_off_until_it_runs(keeper):
    volume_id = make_volume()
    attachment_id = attach(volume_id)
    Attachment.update(connection_info=INFO).where(Attachment.id == attachment_id).execute()
    keeper.exports.broken = "nbdkit: not found"
    await keeper.restore_all()
    failed = attachments.get(ALICE, attachment_id)
    assert failed.export_failed_at is not None and "nbdkit: not found" in failed.status_detail
    assert [e.get("export") for e in keeper.bus.event_payloads()] == ["failed"]
    keeper.exports.broken = ""
    await keeper.restore_all()
    assert keeper.exports.exported == [], "the back-off puts off the next try"
    await keeper.restore_all(now=True)
    restored = attachments.get(ALICE, attachment_id)
    assert keeper.exports.exported == [attachment_id]
    assert restored.export_failed_at is None and restored.connection_info["data"]["port"] == "10810"
    assert [e.get("export") for e in keeper.bus.event_payloads()] == ["failed", "restored"]
    await keeper.restore_all(now=True)
    assert keeper.exports.exported == [attachment_id], "a running export is left alone"


async def test_back_off_doubles_up_to_its_limit(keeper):
    attachment_id = attach(make_volume())
    Attachment.update(connection_info=INFO).where(Attachment.id == attachment_id).execute()
    keeper.exports.broken = "down"
    waits = []
    for _ in range(6):
        await keeper.restore(attachment_id)
        waits.append(round(keeper._backoff[attachment_id][1] - time.monotonic()))
    assert waits == [1, 2, 4, 8, 8, 8]
    assert len([e for e in keeper.bus.event_payloads() if e.get("export") == "failed"]) == 1, "one event per failure, not per try"


async def test_the_keeper_releases_abandoned_reservations_and_their_exports(keeper):
    volume_id = make_volume()
    attachment_id = exporting(volume_id)
    age(attachment_id, 61)
    await keeper.release_abandoned()
    assert Attachment.get_or_none(Attachment.id == attachment_id) is None
    assert keeper.exports.unexported == [attachment_id] and status(volume_id) == "available"
    released = [e for e in keeper.bus.event_payloads() if e["resource"] == "attachments"]
    assert released[0]["status"] == "deleted" and "without CompleteAttachment" in released[0]["released"]
    assert {"resource": "volumes", "id": volume_id, "status": "available"} in keeper.bus.event_payloads()
