"""A throwaway PostgreSQL server for tests, from the machine's own binaries
(Debian's postgresql package): initdb in a temp dir, trust auth, loopback."""

from __future__ import annotations

import glob
import itertools
import os
import pathlib
import shutil
import subprocess
import tempfile

from ember import launcher


def binaries() -> pathlib.Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return pathlib.Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return pathlib.Path(initdb).parent if initdb else None


class Postgres:
    """One server; each Ember under test gets a database of its own on it."""

    name = "postgresql"

    def __init__(self, prefix: tuple[str, ...] = (), address: str = "127.0.0.1", port: int = 0, clients: str = ""):
        """`prefix` runs its commands elsewhere (on another host's namespace),
        where it listens on `address` and trusts the network `clients` (CIDR)."""
        self.prefix, self.address, self.clients = prefix, address, clients
        self.bin = binaries()
        self._numbers = itertools.count(1)
        # Its own directory under the system temp dir: pytest's are private to
        # root, and the server runs as the postgres user.
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="ember-pg-"))
        self.port = port or launcher.free_port()

    def _run(self, *args: str) -> None:
        # PostgreSQL refuses to run as root, and CI runs as root.
        runuser = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*self.prefix, *runuser, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> "Postgres":
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if self.clients:
            with open(self.root / "data" / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {self.clients} trust\n")
        self.resume()
        return self

    def url(self, root: pathlib.Path) -> str:
        """A new, empty database (for an Ember whose data dir is `root`)."""
        name = f"ember_{next(self._numbers)}"
        self._run(str(self.bin / "createdb"), "-h", self.address, "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@{self.address}:{self.port}/{name}"

    def halt(self) -> None:
        """Stops the server as a crash would: connections drop, nothing is flushed politely."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.address} -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-o", options, "-l",
                  str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
