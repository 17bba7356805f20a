"""The local target: when the compute host is the volume's own host, the
connection info is the volume file's path and nothing needs serving."""

from __future__ import annotations


class LocalTarget:
    name = "local"

    def export(self, attachment_id: str, path: str, read_only: bool, port: int = 0) -> dict[str, str]:
        return {"device_path": path}

    def unexport(self, attachment_id: str) -> None:
        return None

    def running(self, attachment_id: str) -> bool:
        return True

    def exported(self) -> set[str]:
        return set()
