"""An Ember of the benchmark's own, started as `ember up` runs it (SQLite,
embedded nats-server) in a directory of its choosing, with quotas off."""

from __future__ import annotations

import pathlib
import secrets

from ember import auth, launcher

# A host name of the backup service's own, unlike the volumes' host, makes
# it read and write volumes through their NBD exports, as it does when it
# runs on another machine.
BACKUP_HOST = "bench-backup-host"


def local_ember(root: pathlib.Path, backup_over_nbd: bool = False, encrypted: bool = True,
                ) -> tuple[launcher.Mesh, str]:
    """The running mesh and a token for it; `encrypted` False turns off the
    mutual TLS inside and the NBD exports' TLS, to measure what they cost."""
    secret = secrets.token_urlsafe(32)
    mesh = launcher.Mesh(
        root, {"EMBER_AUTH_SECRET": secret, "EMBER_QUOTA_VOLUMES": "-1", "EMBER_QUOTA_GIGABYTES": "-1",
               "EMBER_QUOTA_BACKUPS": "-1", "EMBER_QUOTA_BACKUP_GIGABYTES": "-1",
               "EMBER_NBD_TLS": "true" if encrypted else "false"},
        internal_tls=encrypted,
    )
    mesh.start_all(extra={"backup": {"EMBER_HOST": BACKUP_HOST}} if backup_over_nbd else None)
    token = auth.create_token(auth.Identity("bench", "bench"), secret.encode(), 3600)
    return mesh, token
