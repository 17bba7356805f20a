"""A storage host's upkeep of its attachments while it runs: exports that
should run and do not are brought back (retried with back-off while they
cannot be, and marked failed), and reservations nobody completed in time
are released. Each outcome is logged and announced as an attachment event."""

from __future__ import annotations

import asyncio
import logging
import time

from ember import events, retry, states, volume_tasks, writer
from ember.bus import Bus
from ember.db import Attachment, Volume
from ember.errors import EmberError
from volume import attachment_requests, attachment_upkeep, attachments
from volume.exports import Exports

log = logging.getLogger(__name__)

# A dead export is noticed and restarted within this long.
UPKEEP_EVERY = 1.0
FIRST_RETRY = 1.0
# Forgetting old request ids needs doing now and then, not every second.
PURGE_EVERY = 3600.0


class AttachmentKeeper:
    def __init__(self, host: str, exports: Exports, bus: Bus, reserve_timeout: float, retry_max: float):
        self.host, self.exports, self.bus = host, exports, bus
        self.reserve_timeout = reserve_timeout
        self.retries = retry.Backoff(first=FIRST_RETRY, cap=retry_max)
        # attachment id -> (failures in a row, monotonic time of the next try)
        self._backoff: dict[str, tuple[int, float]] = {}
        self._purged_at = 0.0

    async def run_once(self) -> None:
        await self.restore_all()
        await self.release_abandoned()
        if time.monotonic() - self._purged_at > PURGE_EVERY:
            self._purged_at = time.monotonic()
            await writer.run(attachment_requests.purge)

    async def restore_all(self, now: bool = False) -> None:
        """Brings back every export of this host that should run and does not;
        with `now`, also those whose next try the back-off has put off."""
        wanted = await asyncio.to_thread(self._not_running)
        for settled in set(self._backoff) - set(wanted):
            del self._backoff[settled]
        for attachment_id in wanted:
            if now or self._backoff.get(attachment_id, (0, 0))[1] <= time.monotonic():
                await self.restore(attachment_id)

    async def retry_volume(self, volume_id: str) -> None:
        """Tries the failed exports of a volume again at once (a new attach of it is a hint to)."""
        for attachment_id in await asyncio.to_thread(_failing, self.host, volume_id):
            await self.restore(attachment_id)

    def _not_running(self) -> list[str]:
        rows = Attachment.select().where(
            Attachment.host == self.host, Attachment.status.in_(states.EXPORTED),
            Attachment.connection_info.is_null(False),
        )
        return [a.id for a in rows if not self.exports.running(a)]

    async def restore(self, attachment_id: str) -> bool:
        """Serves the attachment's export if it should run and does not;
        whether it runs (or is no longer wanted) afterwards."""
        try:
            info, marked = await asyncio.to_thread(self._restore, attachment_id)
        except Exception as exc:
            await self.failed(attachment_id, f"export failed: {exc}")
            return False
        self._backoff.pop(attachment_id, None)
        if info:
            row = await writer.run(attachments.store_export, attachment_id, info)
        elif marked:
            row = await writer.run(attachment_upkeep.clear_export_failure, attachment_id)
        else:
            return True
        if row is not None:
            log.warning("export of attachment %s (volume %s) runs again at %s", attachment_id, row.volume_id,
                        _where(row.connection_info))
            await announce(self.bus, row, {"export": "restored"})
        return True

    def _restore(self, attachment_id: str) -> tuple[dict | None, bool]:
        """Under the export's lock, so that a detach cannot slip in between
        the look and the export: the new connection info (None when the
        export runs or is not wanted), and whether it was marked failed."""
        with self.exports.lock(attachment_id):
            row = Attachment.get_or_none(Attachment.id == attachment_id)
            if row is None or row.status not in states.EXPORTED or not row.connection_info:
                return None, False
            marked = row.export_failed_at is not None
            if self.exports.running(row):
                return None, marked
            volume = Volume.get_by_id(row.volume_id)
            return self.exports.export(row, volume, row.connection_info["driver_volume_type"]), marked

    async def failed(self, attachment_id: str, reason: str) -> None:
        """Marks the export failed (news is logged and announced) and puts off its next try."""
        failures = self._backoff.get(attachment_id, (0, 0.0))[0] + 1
        wait = self.retries.delay(failures)
        self._backoff[attachment_id] = (failures, time.monotonic() + wait)
        news = await writer.run(attachment_upkeep.mark_export_failed, attachment_id, reason)
        if news is not None:
            log.warning("export of attachment %s (volume %s) cannot be served, retrying with back-off: %s",
                        attachment_id, news.volume_id, reason)
            await announce(self.bus, news, {"export": "failed", "reason": reason})
        else:
            log.info("export of attachment %s still fails (next try in %g s): %s", attachment_id, wait, reason)

    async def give_back(self, attachment: Attachment, error: EmberError) -> Attachment | None:
        """Releases an attachment whose export failed before it was completed:
        the export stops, the row goes and its request keeps `error`; None
        when it had moved on (completed, detaching or gone)."""
        await asyncio.to_thread(self.exports.unexport, attachment)
        released = await writer.run(attachments.release, attachment.id, error)
        if released is not None:
            log.warning("attachment %s (volume %s, instance %s) released: %s", released.id, released.volume_id,
                        released.instance_id, error.message)
            await announce(self.bus, released, {"released": error.message}, status="deleted")
            await announce_volume(self.bus, released.volume_id)
        return released

    async def release_abandoned(self) -> None:
        if not await asyncio.to_thread(attachment_upkeep.any_abandoned, self.host, self.reserve_timeout):
            return
        for attachment in await writer.run(attachment_upkeep.claim_abandoned, self.host, self.reserve_timeout):
            await asyncio.to_thread(self.exports.unexport, attachment)
            await writer.run(attachments.finish_delete, attachment.id)
            log.warning("%s (volume %s, instance %s)", attachment.status_detail, attachment.volume_id,
                        attachment.instance_id)
            await announce(self.bus, attachment, {"released": attachment.status_detail}, status="deleted")
            await announce_volume(self.bus, attachment.volume_id)


def _failing(host: str, volume_id: str) -> list[str]:
    return [a.id for a in Attachment.select(Attachment.id).where(
        Attachment.host == host, Attachment.volume == volume_id, Attachment.export_failed_at.is_null(False))]


def _where(info: dict) -> str:
    data = info.get("data", {})
    return data.get("uri") or data.get("device_path", "")


async def announce_volume(bus: Bus, volume_id: str) -> None:
    """The volume's status, which follows its attachments."""
    volume = await asyncio.to_thread(Volume.get_or_none, Volume.id == volume_id)
    if volume is not None:
        await events.announce(bus, volume_tasks.RESOURCE, volume_id, volume.status)


async def announce(bus: Bus, attachment: Attachment, extra: dict, status: str = "") -> None:
    """An attachment event: its export failed or came back, or it was released."""
    await events.announce(bus, volume_tasks.ATTACHMENTS, attachment.id, status or attachment.status,
                          extra={"volume_id": attachment.volume_id, **extra})
