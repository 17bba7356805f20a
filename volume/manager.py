"""What the VolumeService API does to volume rows beyond creating them
(ember.volumes): list, update and remove, each callable without a network."""

from __future__ import annotations

from ember import pagination, quota, validation
from ember.auth import Identity
from ember.db import Snapshot, Volume, utcnow, write_transaction
from ember.volumes import counted, get_volume


def counted_snapshot(size_gb: int) -> dict[str, int]:
    """What a snapshot counts against its project's quotas (as in Cinder)."""
    return {"snapshots": 1, "gigabytes": size_gb}


def list_volumes(identity: Identity, size: int, token: str, secret: bytes) -> tuple[list[Volume], str]:
    query = Volume.select().where(Volume.project_id == identity.project_id)
    return pagination.keyset_page(query, Volume, "volumes", size, token, secret)


def update_volume(identity: Identity, volume_id: str, fields: dict, metadata_keys: dict[str, str | None]) -> Volume:
    """Sets `fields`; `metadata_keys` sets (or with None removes) single keys."""
    with write_transaction():
        volume = get_volume(identity, volume_id)
        if metadata_keys:
            fields["metadata"] = validation.merged(fields.get("metadata", volume.metadata), metadata_keys)
        Volume.update(updated_at=utcnow(), **fields).where(Volume.id == volume.id).execute()
        return Volume.get_by_id(volume.id)


def remove_volume(volume: Volume) -> None:
    """Deletes the row, its snapshots' rows, and gives their quota back,
    inside the caller's transaction."""
    for snapshot in Snapshot.select().where(Snapshot.volume == volume.id):
        snapshot.delete_instance()
        quota.release(snapshot.project_id, counted_snapshot(snapshot.size_gb))
    volume.delete_instance()
    quota.release(volume.project_id, counted(volume.size_gb, volume.volume_type_id))
