"""Fixtures of the integration and e2e tests: Embers to test against, each
test running once on SQLite and once on PostgreSQL (CI requires both)."""

import subprocess
import sys

import pytest

from tests import nbd, prerequisites, qemu
from tests.harness import SQLITE, Cluster, running
from tests.postgres import Postgres, binaries

DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc):
    if "db_backend" in metafunc.fixturenames:
        metafunc.parametrize("db_backend", DATABASES, indirect=True, scope="session")


@pytest.fixture(scope="session")
def postgres_server():
    if binaries() is None:
        prerequisites.missing("PostgreSQL is not installed here (apt-get install postgresql)",
                              "EMBER_REQUIRE_POSTGRES")
    server = Postgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def db_backend(request):
    """Where an Ember under test keeps its state: SQLite, or a database of
    its own on the session's PostgreSQL server."""
    return SQLITE if request.param == "sqlite" else request.getfixturevalue("postgres_server")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, db_backend):
    """One Ember per test module; tests keep to their own projects."""
    with running(tmp_path_factory.mktemp("ember"), db_backend) as c:
        yield c


@pytest.fixture
def fresh_cluster(tmp_path, db_backend):
    """An Ember of the test's own, started by the test as it needs."""
    c = Cluster(tmp_path, db_backend)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def guest_image(tmp_path_factory):
    """A compute host's data directory holding the guest image, built once a
    session for every test that boots a guest (here and on the multi-host bed)."""
    nbd.require_tools()
    qemu.require_tools()
    path = tmp_path_factory.mktemp("compute")
    built = subprocess.run([sys.executable, "-m", "cli", "instance", "image", "--data-dir", str(path)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    assert "building the guest image" in built.stderr and "linux-image-" in built.stdout
    return path
