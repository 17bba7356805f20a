"""What a restarting volume service does about the attachments its host
serves, before it takes calls: finish or give back the steps a crash cut
short, stop the exports nobody needs and bring back those that died."""

from __future__ import annotations

import asyncio
import logging

from ember import export_holders, states, writer
from ember.db import Backup, Operation
from ember.errors import Unavailable
from volume import attachments
from volume.attachment_keeper import AttachmentKeeper
from volume.exports import Exports

log = logging.getLogger(__name__)


def running_transfers() -> frozenset[str]:
    """Export holders of backups and restores still running (their exports stay)."""
    backups = Backup.select(Backup.id).where(Backup.status == states.CREATING)
    restores = Operation.select(Operation.id).where(Operation.verb == "RestoreBackup", Operation.done == False)  # noqa: E712
    return frozenset([export_holders.backup(b.id) for b in backups] + [export_holders.restore(o.id) for o in restores])


async def recover_attachments(host: str, exports: Exports, keeper: AttachmentKeeper) -> dict[str, list[str]]:
    """Never raises for an export that cannot come back: the keeper marks it
    failed and retries it, and the host serves everything else."""
    rows = await asyncio.to_thread(attachments.on_host, host)
    done: dict[str, list[str]] = {"released": [], "detached": []}
    for attachment in rows:
        if attachment.status == states.ATTACHMENT_ATTACHING and not attachment.connection_info:
            # Cut short between taking the connector and recording the export:
            # its caller got an error, so it is given back, as a failed export is.
            error = Unavailable(
                f"storage host {host} restarted while it exported volume {attachment.volume_id} for attachment "
                f"{attachment.id}; the attachment was released, so nothing holds the volume: attach again",
                "EXPORT_FAILED", {"attachment_id": attachment.id, "volume_id": attachment.volume_id},
            )
            if await keeper.give_back(attachment, error):
                done["released"].append(attachment.id)
        elif attachment.status == states.ATTACHMENT_DETACHING:
            await asyncio.to_thread(exports.unexport, attachment)
            await writer.run(attachments.finish_delete, attachment.id)
            done["detached"].append(attachment.id)
    rows = await asyncio.to_thread(attachments.on_host, host)
    served = {a.id for a in rows if a.status in states.EXPORTED and a.connection_info}
    keep = await asyncio.to_thread(running_transfers)
    done["removed"] = await asyncio.to_thread(exports.remove_orphans, served, keep)
    for action, ids in done.items():
        if ids:
            log.warning("attachments %s after restart: %s", action, ", ".join(ids))
    await keeper.restore_all(now=True)
    return done
