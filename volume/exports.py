"""This host's exports of its volumes to compute hosts: which target serves a
connector, the connection info it gets, one export id's changes at a time,
and stopping the exports that no attachment needs any more."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

from ember.db import Attachment, Volume
from ember.errors import FailedPrecondition
from volume.backends import Backends
from volume.targets.local import LocalTarget
from volume.targets.nbd import NbdTarget

log = logging.getLogger(__name__)


class Exports:
    def __init__(self, host: str, backends: Backends, nbd: NbdTarget):
        self.host, self.backends = host, backends
        self.targets = {"local": LocalTarget(), "nbd": nbd}
        self._guard = threading.Lock()
        self._locks: dict[str, list] = {}

    @contextlib.contextmanager
    def lock(self, export_id: str) -> Iterator[None]:
        """Serialises what happens to one export (a call's export, the
        keeper's restore, a detach's unexport), which run in threads."""
        with self._guard:
            entry = self._locks.setdefault(export_id, [threading.RLock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if not entry[1]:
                    del self._locks[export_id]

    def choose(self, connector: dict) -> str:
        """The first transport the connector offers that can reach this host."""
        offered = list(connector.get("transports") or [])
        for transport in offered:
            if transport == "local" and connector.get("host") == self.host:
                return transport
            if transport == "nbd":
                return transport
        raise FailedPrecondition(
            f"the connector offers {', '.join(offered) or 'no transport'}; storage host {self.host} serves "
            "nbd to any host and local to itself",
            "NO_COMMON_TRANSPORT", {"host": self.host, "connector_host": str(connector.get("host", ""))},
        )

    def _path(self, volume: Volume) -> str:
        driver, pool = self.backends.locate(volume.host)
        return str(driver.path(pool, volume.id))

    def export(self, attachment: Attachment, volume: Volume, transport: str) -> dict:
        """Serves the volume for the attachment; its connection info."""
        port = int((attachment.connection_info or {}).get("data", {}).get("port", 0))
        return self.export_file(attachment.id, self._path(volume), attachment.mode == "ro", transport, port)

    def export_file(self, export_id: str, path: str, read_only: bool, transport: str, port: int = 0) -> dict:
        """Serves a file (a volume, or a temporary snapshot for a backup) under `export_id`."""
        with self.lock(export_id):
            data = self.targets[transport].export(export_id, path, read_only, port)
        return {"driver_volume_type": transport, "data": data, "access_mode": "ro" if read_only else "rw",
                "attachment_id": export_id}

    def unexport(self, attachment: Attachment) -> None:
        self.unexport_id(attachment.id)

    def unexport_id(self, export_id: str) -> None:
        # An export may be running before its connection info was recorded.
        with self.lock(export_id):
            for target in self.targets.values():
                if export_id in target.exported():
                    target.unexport(export_id)

    def running(self, attachment: Attachment) -> bool:
        """Whether the export recorded for the attachment is being served."""
        return self.targets[attachment.connection_info["driver_volume_type"]].running(attachment.id)

    def remove_orphans(self, served: set[str], keep: frozenset[str] = frozenset()) -> list[str]:
        """Stops every export but those of `served` attachments and those in
        `keep` (backups and restores still running); the ids it stopped."""
        removed = []
        for target in self.targets.values():
            for export_id in sorted(target.exported() - served - keep):
                with self.lock(export_id):
                    target.unexport(export_id)
                removed.append(export_id)
        return removed
