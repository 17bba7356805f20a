"""Exports: which target serves a connector, one export id's changes at a
time, and stopping the exports nobody needs. The NBD cases run a real
nbdkit where one is installed."""

import threading
import time
import types

import pytest

from ember.errors import FailedPrecondition
from tests import nbd
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


@pytest.fixture
def needs_nbd():
    nbd.require_tools()


def attachment(attachment_id, status="attached", transport="nbd", mode="rw"):
    return types.SimpleNamespace(
        id=attachment_id, volume_id=f"v-{attachment_id}", status=status, mode=mode,
        connection_info={"driver_volume_type": transport, "data": {}} if transport else None,
    )


def volume(tmp_path, attachment_id):
    (tmp_path / f"volume-v-{attachment_id}").write_bytes(b"\0" * 4096)
    return types.SimpleNamespace(id=f"v-{attachment_id}", host="host-a@file#p")


def test_exports_are_idempotent_and_come_back_on_their_port(needs_nbd, exports, tmp_path):
    one = attachment("a1")
    info = exports.export(one, volume(tmp_path, "a1"), "nbd")
    assert info["driver_volume_type"] == "nbd" and info["access_mode"] == "rw" and info["attachment_id"] == "a1"
    assert exports.export(one, volume(tmp_path, "a1"), "nbd") == info
    target = exports.targets["nbd"]
    target.unexport("a1")
    assert not nbd.answers(info["data"])
    one.connection_info = info
    assert exports.export(one, volume(tmp_path, "a1"), "nbd")["data"]["port"] == info["data"]["port"]
    exports.unexport(one)
    assert target.exported() == set()


def test_orphans_stop_and_served_or_kept_exports_stay(needs_nbd, exports, tmp_path):
    served, kept, orphan = attachment("served"), attachment("backup-1"), attachment("orphan")
    volumes = {f"v-{a.id}": volume(tmp_path, a.id) for a in (served, kept, orphan)}
    for a in (served, kept, orphan):
        a.connection_info = exports.export(a, volumes[a.volume_id], "nbd")
    assert exports.remove_orphans({"served"}, keep=frozenset({"backup-1"})) == ["orphan"]
    assert nbd.answers(served.connection_info["data"]) and nbd.answers(kept.connection_info["data"])
    assert not nbd.answers(orphan.connection_info["data"])
    assert exports.running(served) and not exports.running(orphan)
    for a in (served, kept):
        exports.unexport(a)


def test_one_export_id_changes_at_a_time(exports):
    inside, order = threading.Event(), []

    def hold():
        with exports.lock("a1"):
            inside.set()
            time.sleep(0.2)
            order.append("first")

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait()
    with exports.lock("a2"):
        order.append("other id")
    with exports.lock("a1"):
        order.append("second")
    holder.join()
    assert order == ["other id", "first", "second"]
    assert exports._locks == {}, "locks of ids nobody holds are forgotten"


def test_a_missing_server_binary_is_an_export_error(tmp_path):
    target = NbdTarget(tmp_path, "127.0.0.1", binary="/nonexistent/nbdkit")
    with pytest.raises(ExportError, match="nbdkit could not serve"):
        target.export("a1", str(tmp_path / "v"), False)
