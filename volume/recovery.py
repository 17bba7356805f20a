"""What a restarting volume service does about the attachments its host
serves, before it takes calls: finish the steps a crash cut short and make
the running exports match the attachments."""

from __future__ import annotations

import asyncio
import logging

from ember import states, writer
from ember.db import Backup, Operation
from volume import attachments
from volume.exports import Exports

log = logging.getLogger(__name__)


def running_transfers() -> frozenset[str]:
    """Export holders of backups and restores still running (their exports stay)."""
    backups = Backup.select(Backup.id).where(Backup.status == states.CREATING)
    restores = Operation.select(Operation.id).where(Operation.verb == "RestoreBackup", Operation.done == False)  # noqa: E712
    return frozenset([f"backup-{b.id}" for b in backups] + [f"restore-{o.id}" for o in restores])


async def recover_attachments(host: str, exports: Exports) -> dict[str, list[str]]:
    rows, volumes = await asyncio.to_thread(attachments.on_host, host)
    done: dict[str, list[str]] = {"exported": [], "failed": [], "detached": []}
    for attachment in rows:
        if attachment.status == states.ATTACHMENT_ATTACHING and not attachment.connection_info:
            # Cut short between taking the connector and recording the export.
            try:
                transport = exports.choose(attachment.connector)
                info = await asyncio.to_thread(exports.export, attachment, volumes[attachment.volume_id], transport)
            except Exception as exc:
                await writer.run(attachments.fail_export, attachment.id, f"export failed after a restart: {exc}")
                done["failed"].append(attachment.id)
                continue
            await writer.run(attachments.store_export, attachment.id, info)
            done["exported"].append(attachment.id)
        elif attachment.status == states.ATTACHMENT_DETACHING:
            await asyncio.to_thread(exports.unexport, attachment)
            await writer.run(attachments.finish_delete, attachment.id)
            done["detached"].append(attachment.id)
    rows, volumes = await asyncio.to_thread(attachments.on_host, host)
    keep = await asyncio.to_thread(running_transfers)
    done.update(await asyncio.to_thread(exports.reconcile, rows, volumes, keep))
    for action, ids in done.items():
        if ids:
            log.warning("attachments %s after restart: %s", action, ", ".join(ids))
    return done
