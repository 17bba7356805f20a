"""Names of the holders of a volume's export other than attachments: a
backup reading the volume and a restore writing it. The backup service
opens exports under them; a restarting storage host keeps those exports."""

from __future__ import annotations


def backup(backup_id: str) -> str:
    return f"backup-{backup_id}"


def restore(operation_id: str) -> str:
    return f"restore-{operation_id}"
