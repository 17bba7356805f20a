"""Exports: which target serves a connector, and reconciling the exports of a
restarted host. The NBD cases run a real nbdkit where one is installed."""

import os
import select
import shutil
import signal
import subprocess
import types

import pytest

from ember.errors import FailedPrecondition
from volume.exports import Exports
from volume.targets.nbd import ExportError, NbdTarget


class FakeBackends:
    def __init__(self, root):
        self.root = root

    def locate(self, pool_name):
        return types.SimpleNamespace(path=lambda pool, volume_id: self.root / f"volume-{volume_id}"), "p"


@pytest.fixture
def exports(tmp_path):
    return Exports("host-a", FakeBackends(tmp_path), NbdTarget(tmp_path / "exports", "127.0.0.1"))


@pytest.mark.parametrize(
    "connector, chosen",
    [
        ({"host": "host-a", "transports": ["local", "nbd"]}, "local"),
        ({"host": "compute-1", "transports": ["local", "nbd"]}, "nbd"),
        ({"host": "host-a", "transports": ["nbd", "local"]}, "nbd"),
    ],
)
def test_the_first_transport_that_reaches_this_host(exports, connector, chosen):
    assert exports.choose(connector) == chosen


def test_no_common_transport_is_a_failed_precondition(exports):
    with pytest.raises(FailedPrecondition, match="offers local") as refused:
        exports.choose({"host": "compute-1", "transports": ["local"]})
    assert refused.value.reason == "NO_COMMON_TRANSPORT"


needs_nbd = pytest.mark.skipif(not (shutil.which("nbdkit") and shutil.which("nbdinfo")), reason="needs nbdkit and nbdinfo")


def attachment(attachment_id, status="attached", transport="nbd", mode="rw"):
    return types.SimpleNamespace(
        id=attachment_id, volume_id=f"v-{attachment_id}", status=status, mode=mode,
        connection_info={"driver_volume_type": transport, "data": {}} if transport else None,
    )


def volume(tmp_path, attachment_id):
    (tmp_path / f"volume-v-{attachment_id}").write_bytes(b"\0" * 4096)
    return types.SimpleNamespace(id=f"v-{attachment_id}", host="host-a@file#p")


def answers(uri):
    return subprocess.run(["nbdinfo", "--size", uri], capture_output=True).returncode == 0


@needs_nbd
def test_exports_are_idempotent_and_come_back_on_their_port(exports, tmp_path):
    one = attachment("a1")
    info = exports.export(one, volume(tmp_path, "a1"), "nbd")
    assert info["driver_volume_type"] == "nbd" and info["access_mode"] == "rw" and info["attachment_id"] == "a1"
    assert exports.export(one, volume(tmp_path, "a1"), "nbd") == info
    nbd = exports.targets["nbd"]
    nbd.unexport("a1")
    assert not answers(info["data"]["uri"])
    one.connection_info = info
    assert exports.export(one, volume(tmp_path, "a1"), "nbd")["data"]["port"] == info["data"]["port"]
    exports.unexport(one)
    assert nbd.exported() == set()


@needs_nbd
def test_reconcile_restores_served_exports_and_stops_the_rest(exports, tmp_path):
    nbd = exports.targets["nbd"]
    kept, dead, orphan = attachment("kept"), attachment("dead"), attachment("orphan")
    volumes = {f"v-{a.id}": volume(tmp_path, a.id) for a in (kept, dead, orphan)}
    for a in (kept, dead, orphan):
        a.connection_info = exports.export(a, volumes[a.volume_id], "nbd")
    dead_pid = nbd._pid("dead")
    waiter = os.pidfd_open(dead_pid)
    os.kill(dead_pid, signal.SIGKILL)
    select.select([waiter], [], [], 10)
    os.close(waiter)
    done = exports.reconcile([kept, dead, attachment("errored", status="error_attaching")], volumes)
    assert done == {"restored": ["dead"], "removed": ["orphan"]}
    assert answers(kept.connection_info["data"]["uri"]) and answers(dead.connection_info["data"]["uri"])
    assert not answers(orphan.connection_info["data"]["uri"])
    for a in (kept, dead):
        exports.unexport(a)


def test_a_missing_server_binary_is_an_export_error(tmp_path):
    target = NbdTarget(tmp_path, "127.0.0.1", binary="/nonexistent/nbdkit")
    with pytest.raises(ExportError, match="nbdkit could not serve"):
        target.export("a1", str(tmp_path / "v"), False)
