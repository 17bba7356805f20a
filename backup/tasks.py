"""The backup service's task handlers: back a volume up, restore a backup
onto a volume, delete a backup (and collect the chunks nothing names any
more), verify a backup. Each is idempotent: a redelivered task redoes the
data work (chunks already stored are not stored again) and its transaction
ends the operation once; the task acks only after that commit."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid

from backup import outcomes
from backup.hosts import VolumeHosts
from backup.keepalive import KeepAlive
from backup.pipeline import backup as back_up, restore as restore_onto, verify as verify_chunks
from backup.repository import ChunkError, Repository, gc, locks
from backup.repository.manifests import Manifest
from backup.volumes_io import open_volume
from ember import events, export_holders, failpoints, metrics, states, volume_tasks, writer
from ember.bus import Delivery, Retry
from ember.config import Settings
from ember.db import Backup, Volume
from ember.entrypoints import TaskHandlers, task
from ember.errors import DataLoss, EmberError, FailedPrecondition, Unavailable
from ember.progress import Progress

log = logging.getLogger(__name__)

BUSY_RETRY = 5.0
# How many bad chunks an error message names (all are in the log).
NAMED = 3


def _backup_in(backup_id: str, *statuses: str) -> Backup | None:
    row = Backup.get_or_none(Backup.id == backup_id)
    return row if row is not None and row.status in statuses else None


def _read_manifest(repo: Repository, backup_id: str) -> Manifest:
    try:
        return repo.read_manifest(backup_id)
    except FileNotFoundError:
        raise DataLoss(f"backup {backup_id} has no manifest in the backup repository", "MANIFEST_MISSING",
                       {"backup_id": backup_id})


def _bad_chunks(backup_id: str, problems: list[ChunkError], checked: int = 0) -> DataLoss:
    """What a restore (the first bad chunk stops it) or a verify (`checked`
    chunks, all bad ones found) found wrong."""
    for problem in problems:
        log.error("backup %s: %s", backup_id, problem)
    named = "; ".join(str(p) for p in problems[:NAMED])
    more = f" (and {len(problems) - NAMED} more)" if len(problems) > NAMED else ""
    found = f"{len(problems)} of {checked} chunks are bad: " if checked else ""
    return DataLoss(f"backup {backup_id}: {found}{named}{more}", "CHUNK_CORRUPT",
                    {"backup_id": backup_id, "chunk": problems[0].digest, "bad_chunks": len(problems)})


def _on_volume(info: dict, writable: bool, work):
    volume = open_volume(info, writable)
    try:
        return work(volume)
    finally:
        volume.close()


def _orphaned(backup_id: str) -> bool:
    """The backup failed or went while a task worked on it."""
    row = Backup.get_or_none(Backup.id == backup_id)
    return row is None or row.status == states.ERROR


def _back_up(repo: Repository, manifest: Manifest, workers: int, progress, alive, volume):
    manifest.size = volume.size
    stats = back_up(repo, volume, manifest, progress, alive, workers)
    failpoints.hit("backup.before_manifest")
    repo.write_manifest(manifest)
    failpoints.hit("backup.after_manifest")
    return stats


def _restore(repo: Repository, manifest: Manifest, fill_holes: bool, workers: int, progress, alive, volume):
    stats = restore_onto(repo, manifest, volume, progress, alive, fill_holes, workers)
    failpoints.hit("backup.restore.after_write")
    return stats


class BackupTasks(TaskHandlers):
    """Every handler runs with a KeepAlive while it works, and under one set
    of failure rules (run())."""

    kind = "backup task"

    def __init__(self, bus, repo: Repository, hosts: VolumeHosts, settings: Settings):
        self.bus, self.repo, self.hosts = bus, repo, hosts
        self.workers, self.retry_after = settings.backup_workers, settings.outbox_retry_after
        self.beat_every = max(settings.task_ack_wait / 3, 0.5)

    async def run(self, handler, delivery: Delivery) -> None:
        verb = delivery.subject.rpartition(".")[2]
        p = delivery.payload
        alive = KeepAlive(delivery, p["operation_id"], self.beat_every, self.retry_after)
        try:
            async with alive.running():
                await handler(delivery, alive)
        except Retry:
            raise
        except ChunkError as exc:
            await self._fail(p, _bad_chunks(p["backup_id"], [exc]))
        except EmberError as exc:
            if isinstance(exc, Unavailable) and not delivery.final:
                # The database (or a volume host) is away: not the backup's fault.
                raise Retry(f"{verb} of backup {p['backup_id']}: {exc.message}")
            await self._fail(p, exc)
        except Exception as exc:
            if not delivery.final:
                raise Retry(f"{verb} of backup {p['backup_id']} (delivery {delivery.attempt}): {exc}",
                            delay=BUSY_RETRY if isinstance(exc, locks.Busy) else None)
            log.error("%s of backup %s failed for good", verb, p["backup_id"], exc_info=True)
            await self._fail(p, EmberError(f"{verb} failed after {delivery.attempt} tries: {exc}", "BACKUP_TASK_FAILED"))
        if await asyncio.to_thread(gc.pending, self.repo):
            await self._collect()

    async def _fail(self, payload: dict, error: EmberError) -> None:
        await volume_tasks.fail(self.bus, payload["operation_id"], payload, error)

    def _progress(self, payload: dict) -> Progress:
        return Progress(self.bus, asyncio.get_running_loop(), payload["operation_id"], volume_tasks.BACKUPS,
                        payload["backup_id"], self.retry_after, metrics.BACKUP_BYTES.labels(payload["verb"]))

    @contextlib.asynccontextmanager
    async def _locked(self, holder: str, alive: KeepAlive):
        alive.lock = await asyncio.to_thread(self.repo.lock, holder)
        try:
            yield
        finally:
            await asyncio.to_thread(alive.lock.release)
            alive.lock = None

    async def _on_export(self, alive: KeepAlive, volume: Volume, holder: str, writable: bool, snapshot: bool, work):
        """work(opened volume) in a thread, with the volume exported by its
        host for this holder and the repository locked shared."""
        async with self._locked(holder, alive):
            info = await self.hosts.open(volume, holder, writable, snapshot)
            try:
                return await asyncio.to_thread(_on_volume, info, writable, work)
            finally:
                try:
                    await self.hosts.close(volume, holder)
                except Exception as exc:
                    log.warning("closing export %s of volume %s failed (its host drops it when it restarts): %s",
                                holder, volume.id, exc)

    async def _collect(self) -> None:
        try:
            freed = await asyncio.to_thread(gc.collect, self.repo, f"gc-{uuid.uuid4().hex}")
        except locks.Busy as exc:
            log.info("garbage collection deferred: %s", exc)
            await asyncio.to_thread(gc.defer, self.repo)
            return
        log.info("garbage collection: %s", freed)

    @task("backup")
    async def backup(self, delivery: Delivery, alive: KeepAlive) -> None:
        p = delivery.payload
        backup = await asyncio.to_thread(_backup_in, p["backup_id"], states.CREATING)
        if backup is None:
            return
        volume = await asyncio.to_thread(Volume.get_or_none, Volume.id == p["volume_id"])
        if volume is None or not volume.host:
            raise FailedPrecondition(f"volume {p['volume_id']} is gone", "VOLUME_GONE")
        manifest = Manifest(
            backup_id=backup.id, volume_id=volume.id, size=0, chunk_size=self.repo.chunk_size,
            created_at=backup.created_at.isoformat(), parent_id=backup.parent_id,
            metadata={"volume": {"name": volume.name, "size_gb": volume.size_gb,
                                 "volume_type": volume.volume_type_name, "metadata": volume.metadata}},
        )
        work = functools.partial(_back_up, self.repo, manifest, self.workers, self._progress(p), alive)
        stats = await self._on_export(alive, volume, export_holders.backup(backup.id), False, p["snapshot"], work)
        done = await writer.run(outcomes.backup_done, p["operation_id"], p, stats.bytes_total, stats.stored_bytes,
                                stats.chunks)
        if done:
            await events.announce(self.bus, volume_tasks.BACKUPS, backup.id, states.AVAILABLE, p["operation_id"])
            if p.get("previous_status"):
                await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, p["previous_status"])
        elif await asyncio.to_thread(_orphaned, backup.id):
            # Nothing will ever restore it: its chunks are garbage once the manifest goes.
            await asyncio.to_thread(self.repo.delete_manifest, backup.id)

    @task("restore")
    async def restore(self, delivery: Delivery, alive: KeepAlive) -> None:
        p = delivery.payload
        volume = await asyncio.to_thread(Volume.get_or_none, Volume.id == p["volume_id"])
        if volume is None or volume.status != states.RESTORING_BACKUP:
            return
        manifest = await asyncio.to_thread(_read_manifest, self.repo, p["backup_id"])
        work = functools.partial(_restore, self.repo, manifest, not p["new_volume"], self.workers,
                                 self._progress(p), alive)
        await self._on_export(alive, volume, export_holders.restore(p["operation_id"]), True, False, work)
        volume_metadata = manifest.metadata.get("volume", {}).get("metadata", {})
        if await writer.run(outcomes.restore_done, p["operation_id"], p, volume_metadata):
            await events.announce(self.bus, volume_tasks.RESOURCE, volume.id, states.AVAILABLE, p["operation_id"])
            await events.announce(self.bus, volume_tasks.BACKUPS, p["backup_id"], states.AVAILABLE)

    @task("delete_backup")
    async def delete(self, delivery: Delivery, alive: KeepAlive) -> None:
        p = delivery.payload
        if await asyncio.to_thread(_backup_in, p["backup_id"], states.DELETING) is None:
            return
        await asyncio.to_thread(self.repo.delete_manifest, p["backup_id"])
        await self._collect()
        if await writer.run(outcomes.delete_done, p["operation_id"], p["backup_id"]):
            await events.announce(self.bus, volume_tasks.BACKUPS, p["backup_id"], "deleted", p["operation_id"])

    @task("verify_backup")
    async def verify(self, delivery: Delivery, alive: KeepAlive) -> None:
        p = delivery.payload
        backup_id = p["backup_id"]
        if await asyncio.to_thread(_backup_in, backup_id, states.AVAILABLE, states.RESTORING) is None:
            raise FailedPrecondition(f"backup {backup_id} is no longer available to verify", "BACKUP_STATUS_INVALID")
        manifest = await asyncio.to_thread(_read_manifest, self.repo, backup_id)
        async with self._locked(f"verify-{p['operation_id']}", alive):
            stats, problems = await asyncio.to_thread(verify_chunks, self.repo, manifest, self._progress(p), alive,
                                                      self.workers)
        if problems:
            raise _bad_chunks(backup_id, problems, stats.chunks)
        if await writer.run(outcomes.verify_done, p["operation_id"], backup_id, stats.chunks, stats.bytes_done):
            await events.announce(self.bus, volume_tasks.BACKUPS, backup_id, states.AVAILABLE, p["operation_id"])
