"""This host's exports of its volumes to compute hosts: which target serves a
connector, the connection info it gets, and the reconciliation a restarted
volume service runs so that every export matches an attachment."""

from __future__ import annotations

import logging

from ember import states
from ember.db import Attachment, Volume
from ember.errors import FailedPrecondition
from volume.backends import Backends
from volume.targets.local import LocalTarget
from volume.targets.nbd import NbdTarget

log = logging.getLogger(__name__)

# Attachments whose export must exist while they are in these statuses.
SERVED = frozenset({states.ATTACHMENT_ATTACHING, states.ATTACHMENT_ATTACHED})


class Exports:
    def __init__(self, host: str, backends: Backends, nbd: NbdTarget):
        self.host, self.backends = host, backends
        self.targets = {"local": LocalTarget(), "nbd": nbd}

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
        data = self.targets[transport].export(export_id, path, read_only, port)
        return {"driver_volume_type": transport, "data": data, "access_mode": "ro" if read_only else "rw",
                "attachment_id": export_id}

    def unexport(self, attachment: Attachment) -> None:
        self.unexport_id(attachment.id)

    def unexport_id(self, export_id: str) -> None:
        # An export may be running before its connection info was recorded.
        for target in self.targets.values():
            if export_id in target.exported():
                target.unexport(export_id)

    def reconcile(
        self, attachments: list[Attachment], volumes: dict[str, Volume], keep: frozenset[str] = frozenset()
    ) -> dict[str, list[str]]:
        """After a restart: exports of served attachments run again, exports
        nobody is attached to stop (but those in `keep`: backups and restores
        still running). Returns what it did, for the log."""
        done: dict[str, list[str]] = {"restored": [], "removed": []}
        served = {a.id: a for a in attachments if a.status in SERVED and a.connection_info}
        for attachment in served.values():
            transport = attachment.connection_info["driver_volume_type"]
            if not self.targets[transport].running(attachment.id):
                self.export(attachment, volumes[attachment.volume_id], transport)
                done["restored"].append(attachment.id)
        for name, target in self.targets.items():
            for attachment_id in target.exported() - set(served) - keep:
                target.unexport(attachment_id)
                done["removed"].append(attachment_id)
        return done
