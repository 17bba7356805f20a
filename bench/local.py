"""An Ember of the benchmark's own, started as `ember up` runs it (SQLite,
embedded nats-server) in a directory of its choosing, with quotas off."""

from __future__ import annotations

import pathlib
import secrets

from ember import auth, launcher


def local_ember(root: pathlib.Path) -> tuple[launcher.Mesh, str]:
    """The running mesh and a token for it."""
    secret = secrets.token_urlsafe(32)
    mesh = launcher.Mesh(
        root, {"EMBER_AUTH_SECRET": secret, "EMBER_QUOTA_VOLUMES": "-1", "EMBER_QUOTA_GIGABYTES": "-1",
               "EMBER_QUOTA_BACKUPS": "-1", "EMBER_QUOTA_BACKUP_GIGABYTES": "-1"}
    )
    mesh.start_all()
    token = auth.create_token(auth.Identity("bench", "bench"), secret.encode(), 3600)
    return mesh, token
