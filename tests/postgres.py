"""A throwaway PostgreSQL server for tests, from the machine's own binaries
(Debian's postgresql package): initdb in a temp dir, loopback, trust auth
unless asked for a password (scram-sha-256) or TLS (hostssl only)."""

from __future__ import annotations

import glob
import itertools
import os
import pathlib
import shutil
import subprocess
import tempfile
from urllib.parse import quote, urlencode

import trustme

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

    def __init__(self, prefix: tuple[str, ...] = (), address: str = "127.0.0.1", port: int = 0, clients: str = "",
                 password: str = "", ssl: bool = False):
        """`prefix` runs its commands elsewhere (on another host's namespace),
        where it listens on `address` and admits the network `clients` (CIDR).
        With `password`, TCP clients log in as `user` (ember) with it; with
        `ssl`, only over TLS, with a certificate for `address` signed by the
        CA in `ca_file`. Either way the superuser still has the local socket."""
        self.prefix, self.address, self.clients = prefix, address, clients
        self.password, self.ssl = password, ssl
        self.user = "ember" if password else "postgres"
        self.bin = binaries()
        self._numbers = itertools.count(1)
        # Its own directory under the system temp dir: pytest's are private to
        # root, and the server runs as the postgres user.
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="ember-pg-"))
        self.port = port or launcher.free_port()
        self.ca_file = self.root / "ca.pem"

    def _run(self, *args: str) -> str:
        # PostgreSQL refuses to run as root, and CI runs as root.
        runuser = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*self.prefix, *runuser, *args], check=True, capture_output=True, text=True, timeout=120)
        return done.stdout

    def _own(self, path: pathlib.Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def start(self) -> "Postgres":
        self._own(self.root)
        if self.ssl:
            self._issue_certificate()
        self._run(str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if self.password or self.ssl:
            self._lock_tcp()
        elif self.clients:
            with open(self.root / "data" / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {self.clients} trust\n")
        self.resume()
        if self.password:
            quoted = self.password.replace("'", "''")
            self.sql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{quoted}'")
        return self

    def _issue_certificate(self) -> None:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_file))
        leaf = ca.issue_cert(self.address, "localhost")
        for name, pem in (("server.crt", leaf.cert_chain_pems[0]), ("server.key", leaf.private_key_pem)):
            pem.write_to_path(str(self.root / name))
            # The server refuses a key that others may read.
            (self.root / name).chmod(0o600)
            self._own(self.root / name)

    def _lock_tcp(self) -> None:
        """TCP only with the password (if any) and only over TLS (if ssl); the socket stays trusted."""
        kind, method = "hostssl" if self.ssl else "host", "scram-sha-256" if self.password else "trust"
        networks = ["127.0.0.1/32", "::1/128", *([self.clients] if self.clients else [])]
        lines = ["local all all trust", *(f"{kind} all all {net} {method}" for net in networks)]
        (self.root / "data" / "pg_hba.conf").write_text("\n".join(lines) + "\n")

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Runs `statement` as the superuser, over the local socket; its rows, one a line."""
        return self._run(str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
                         "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", statement)

    def url(self, root: pathlib.Path, password: str | None = None, **query: str) -> str:
        """A new, empty database (for an Ember whose data dir is `root`), owned
        by `user`: its URL with `password` (by default the server's) and the
        libpq parameters `query` (sslmode, passfile...)."""
        name = f"ember_{next(self._numbers)}"
        self._run(str(self.bin / "createdb"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
                  "-O", self.user, name)
        password = self.password if password is None else password
        login = self.user + (f":{quote(password, safe='')}" if password else "")
        parameters = f"?{urlencode(query, safe='/')}" if query else ""
        return f"postgresql://{login}@{self.address}:{self.port}/{name}{parameters}"

    def halt(self) -> None:
        """Stops the server as a crash would: connections drop, nothing is flushed politely."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses={self.address} -c fsync=off"
        if self.ssl:
            options += f" -c ssl=on -c ssl_cert_file={self.root / 'server.crt'} -c ssl_key_file={self.root / 'server.key'}"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-o", options, "-l",
                  str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
