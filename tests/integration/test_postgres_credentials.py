"""PostgreSQL with credentials: services log in with the password in their
database URL or from a passfile, over TLS when sslmode asks for it; a wrong
password or a passfile libpq would skip stops a service with the reason; and
the password shows in no log, no --help and no `ember status`."""

import os
import secrets
import subprocess
import sys
import types
from urllib.parse import urlsplit

import pytest
import trustme

from ember import db
from tests import prerequisites
from tests.harness import Cluster
from tests.integration.live_util import ember
from tests.postgres import Postgres, binaries

# In every password here, so that finding it anywhere is a leak.
MARK = secrets.token_hex(8)
# With what a URL must escape (@ / ,) and a passfile too (:).
PASSWORD = f"Pw@{MARK}/,:x"


def server(**options) -> Postgres:
    if binaries() is None:
        prerequisites.missing("PostgreSQL is not installed here (apt-get install postgresql)", "EMBER_REQUIRE_POSTGRES")
    return Postgres(password=PASSWORD, **options).start()


@pytest.fixture(scope="module")
def locked():
    """TCP only with the password (scram-sha-256)."""
    started = server()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def ssl_only():
    """TCP only with the password and only over TLS."""
    started = server(ssl=True)
    try:
        yield started
    finally:
        started.stop()


def at(url: str):
    """A database for harness.Cluster that is `url` whatever the data directory."""
    return types.SimpleNamespace(name="postgresql", url=lambda root: url)


def dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def sessions(postgres: Postgres, url: str) -> list[str]:
    """user|ssl of each session Ember holds on the database of `url`."""
    rows = postgres.sql("SELECT usename, ssl FROM pg_stat_activity JOIN pg_stat_ssl USING (pid) "
                        f"WHERE datname = '{dbname(url)}'")
    return rows.split()


def logs(cluster: Cluster) -> str:
    return "".join(p.log() for p in cluster.processes)


def test_a_password_in_the_url_opens_the_database_and_is_never_shown(tmp_path, locked):
    url = locked.url(tmp_path)
    assert "Pw%40" in url and MARK in url
    c = Cluster(tmp_path, at(url))
    try:
        c.start_all()
        client = c.client("credentials")
        volume = client.create_available(1)
        assert client.get(volume.id).size_gb == 1
        assert set(sessions(locked, url)) == {"ember|f"}

        status = ember(c, "status")
        database = f"Database: postgresql postgresql://ember:***@{locked.address}:{locked.port}/{dbname(url)}: reachable"
        assert database in status.stdout, status.stdout + status.stderr
        as_json = ember(c, "status", "--json")
        helps = [subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                                env={**os.environ, "EMBER_DATABASE_URL": url}, timeout=60)
                 for module in ("volume", "api_gateway")]
        assert all("postgresql://ember:***@" in " ".join(h.stdout.split()) for h in helps), helps[0].stdout
        shown = [status.stdout, status.stderr, as_json.stdout, as_json.stderr, logs(c)]
        shown += [h.stdout + h.stderr for h in helps]
        assert all(MARK not in text for text in shown)
    finally:
        c.stop()


def test_a_wrong_password_stops_a_service_with_the_reason_and_not_the_password(tmp_path, locked):
    wrong = f"Wrong{MARK}"
    c = Cluster(tmp_path, at(locked.url(tmp_path, password=wrong)))
    try:
        c.start_nats()
        with pytest.raises(RuntimeError) as failed:
            c.start("scheduler")
        said = str(failed.value)
        assert "cannot open the database postgresql://ember:***@" in said
        assert "wrong password (the one in database_url)" in said
        assert 'password authentication failed for user "ember"' in said
        assert "Traceback" not in said and MARK not in logs(c)
    finally:
        c.stop()


def test_a_passfile_gives_the_password_unless_others_may_read_it(tmp_path, locked):
    passfile = tmp_path / "pgpass"
    escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")
    passfile.write_text(f"{locked.address}:{locked.port}:*:{locked.user}:{escaped}\n")
    passfile.chmod(0o600)
    url = locked.url(tmp_path, password="", passfile=str(passfile))
    assert MARK not in url
    c = Cluster(tmp_path, at(url))
    try:
        c.start_nats()
        c.start("scheduler")
        assert set(sessions(locked, url)) == {"ember|f"}

        passfile.chmod(0o640)
        with pytest.raises(RuntimeError) as failed:
            c.start("volume")
        assert (f"passfile {passfile} (of database_url) may be read by group or others (mode 0640), "
                f"so libpq ignores it: chmod 600 {passfile}") in str(failed.value)

        passfile.chmod(0o600)
        passfile.write_text(f"{locked.address}:{locked.port}:other_db:{locked.user}:{escaped}\n")
        with pytest.raises(RuntimeError) as failed:
            c.start("backup")
        assert ("the server asks for a password and none was given "
                f"(passfile {passfile} has no line for {locked.address}:{locked.port}:{dbname(url)}:ember)"
                in str(failed.value))
        assert MARK not in logs(c)
    finally:
        c.stop()


def test_sslmode_and_sslrootcert_reach_libpq(tmp_path, ssl_only):
    require = ssl_only.url(tmp_path, sslmode="require")
    verify = require.replace("sslmode=require", f"sslmode=verify-full&sslrootcert={ssl_only.ca_file}")
    c = Cluster(tmp_path, at(require))
    try:
        c.start_nats()
        c.start("scheduler")
        c.start("volume", EMBER_DATABASE_URL=verify)
        held = sessions(ssl_only, require)
        assert len(held) >= 2 and set(held) == {"ember|t"}, held
        assert MARK not in logs(c)
    finally:
        c.stop()

    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    for url, reason in (
        (require.replace("sslmode=require", "sslmode=disable"), "the server takes only SSL connections from here"),
        (require.replace("sslmode=require", f"sslmode=verify-full&sslrootcert={other_ca}"),
         "certificate verify failed"),
    ):
        with pytest.raises(SystemExit) as refused:
            db.open_database(url)
        assert reason in str(refused.value) and MARK not in str(refused.value)
