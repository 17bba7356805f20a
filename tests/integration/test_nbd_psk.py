"""Each NBD export takes only its own attachment's TLS-PSK, against a real
nbdkit on 127.0.0.1: no TLS, a wrong key and another export's secret are
refused before any data moves, a detach drops the secret, a restarted
target keeps the secrets of the exports it finds, and the secret never
sits where another user can read it (files, nbdkit's command line). The
backup service's client and `ember attach`'s probe present it."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import subprocess

import pytest

from backup.nbd_client import NbdClient, NbdError
from cli import attach
from cli.client import CliError
from ember import nbd_psk
from ember.v1 import attachment_pb2
from tests import nbd
from volume.targets.nbd import NbdTarget

MIB = 1024 * 1024


@pytest.fixture(scope="module", autouse=True)
def tools():
    nbd.require_tools()


@pytest.fixture
def target(tmp_path):
    made = NbdTarget(tmp_path / "exports", "127.0.0.1")
    yield made
    for export_id in made.exported():
        made.unexport(export_id)


def volume(tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    path = tmp_path / f"volume-{name}"
    path.write_bytes(os.urandom(MIB))
    return path


def copy_out(export, destination: pathlib.Path) -> subprocess.CompletedProcess:
    """nbdcopy from the export to a new file: what a client that tried got."""
    with nbd.uri_of(export) as uri:
        return subprocess.run(["nbdcopy", uri, str(destination)], capture_output=True, text=True, timeout=60)


def with_psk(data: dict, psk: nbd_psk.Psk) -> dict:
    return {**data, **psk.data()}


def refused(export, tmp_path: pathlib.Path, name: str) -> bool:
    """The server refused the client and nothing of the volume came out."""
    destination = tmp_path / f"out-{name}"
    done = copy_out(export, destination)
    return done.returncode != 0 and (not destination.exists() or destination.stat().st_size == 0)


def test_only_the_exports_own_secret_reads_it(target, tmp_path):
    one, two = volume(tmp_path, "one"), volume(tmp_path, "two")
    first = target.export("att-1", str(one), read_only=False)
    second = target.export("att-2", str(two), read_only=False)
    assert first["uri"].startswith("nbds://127.0.0.1:") and first["tls"] == "psk"
    assert first["tls_psk_identity"] == "att-1" and first["tls_psk_key"] != second["tls_psk_key"]

    plaintext = first["uri"].replace("nbds://", "nbd://")
    assert refused(plaintext, tmp_path, "no-tls")
    assert refused(first["uri"], tmp_path, "tls-without-the-key"), "an nbds URI with no PSK at all"
    wrong = nbd_psk.Psk.new("att-1")
    assert refused(with_psk(first, wrong), tmp_path, "wrong-key")
    another = nbd_psk.of(second)
    assert refused(with_psk(first, another), tmp_path, "other-attachments-secret")
    assert refused(with_psk(first, nbd_psk.Psk("att-1", another.key)), tmp_path, "other-key-own-identity")

    intruder = tmp_path / "intruder.bin"
    intruder.write_bytes(b"\xee" * 4096)
    assert nbd.write(intruder, with_psk(first, another)).returncode != 0
    assert one.read_bytes()[:4096] != intruder.read_bytes(), "a refused client wrote nothing"

    assert copy_out(first, tmp_path / "mine").returncode == 0
    assert (tmp_path / "mine").read_bytes() == one.read_bytes()


def test_a_detach_drops_the_secret_and_a_new_export_gets_a_new_one(target, tmp_path):
    path = volume(tmp_path, "v")
    old = target.export("att-1", str(path), read_only=False)
    assert nbd.answers(old)
    target.unexport("att-1")
    assert not (target.state_dir / "att-1.psk").exists()
    assert not nbd.answers(old)
    # The same attachment id on the same port again: only the new secret opens it.
    new = target.export("att-1", str(path), read_only=False, port=int(old["port"]))
    assert new["port"] == old["port"] and new["tls_psk_key"] != old["tls_psk_key"]
    assert not nbd.answers(old), "the secret of the detached export still opens its successor"
    assert nbd.answers(new)


def test_a_restarted_target_keeps_the_secret_of_running_and_dead_exports(target, tmp_path):
    path = volume(tmp_path, "v")
    info = target.export("att-1", str(path), read_only=False)
    restarted = NbdTarget(target.state_dir, "127.0.0.1")
    assert restarted.export("att-1", str(path), read_only=False) == info, "a running export keeps its secret"
    os.kill(restarted._pid("att-1"), 9)
    assert not nbd.answers(info)
    again = NbdTarget(target.state_dir, "127.0.0.1")
    assert again.export("att-1", str(path), read_only=False) == info, "a dead export comes back as it was"
    assert nbd.answers(info)


def test_the_secret_is_readable_by_this_user_only(target, tmp_path):
    info = target.export("att-1", str(volume(tmp_path, "v")), read_only=True)
    state = target.state_dir
    assert state.stat().st_mode & 0o777 == 0o700
    for name in ("att-1.psk", "att-1.json"):
        assert (state / name).stat().st_mode & 0o777 == 0o600, name
    assert (state / "att-1.psk").read_text() == f"att-1:{info['tls_psk_key']}\n"
    cmdline = pathlib.Path(f"/proc/{target._pid('att-1')}/cmdline").read_bytes()
    assert b"--tls=require" in cmdline and info["tls_psk_key"].encode() not in cmdline


def test_with_tls_off_exports_are_plaintext(tmp_path):
    plain = NbdTarget(tmp_path / "exports", "127.0.0.1", tls=False)
    try:
        info = plain.export("att-1", str(volume(tmp_path, "v")), read_only=True)
        assert info["uri"].startswith("nbd://") and "tls" not in info and "tls_psk_key" not in info
        assert nbd.answers(info["uri"])
        assert not (plain.state_dir / "att-1.psk").exists()
    finally:
        plain.unexport("att-1")


def test_the_backup_client_connects_with_the_secret_only(target, tmp_path):
    path = volume(tmp_path, "v")
    info = target.export("att-1", str(path), read_only=False)
    with NbdClient(info["uri"], psk=nbd_psk.of(info)) as device:
        assert device.pread(4096, 0) == path.read_bytes()[:4096]
    for psk in (None, nbd_psk.Psk.new("att-1"), nbd_psk.Psk.new("someone")):
        with pytest.raises(NbdError):
            NbdClient(info["uri"], psk=psk)
    with pytest.raises(NbdError, match="plaintext URI"):
        NbdClient(info["uri"].replace("nbds://", "nbd://"), psk=nbd_psk.of(info))


def test_a_psk_is_an_identity_and_a_hex_key_and_never_printed():
    psk = nbd_psk.Psk.new("backup-1")
    assert psk.key not in repr(psk) and len(bytes.fromhex(psk.key)) == nbd_psk.KEY_BYTES
    for identity, key in (("a:b", psk.key), ("a\nb", psk.key), ("a", "zz"), ("a", psk.key + "\n")):
        with pytest.raises(ValueError):
            nbd_psk.Psk(identity, key)
    assert nbd_psk.of({"uri": "nbd://h:1/x"}) is None
    assert dataclasses.asdict(nbd_psk.of(psk.data() | {"uri": "nbds://h:1/x"})) == dataclasses.asdict(psk)


@pytest.mark.parametrize("tool", ["nbdinfo", "qemu-img"])
def test_the_cli_probe_presents_the_secret_with_either_tool(target, tmp_path, monkeypatch, capsys, tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    info = target.export("att-1", str(volume(tmp_path, "v")), read_only=False)
    other = {"nbdinfo": "qemu-img", "qemu-img": "nbdinfo"}[tool]
    which = shutil.which
    monkeypatch.setattr(attach.shutil, "which", lambda name: None if name == other else which(name))
    attach.probe(attachment_pb2.ConnectionInfo(driver_volume_type="nbd", data=info, access_mode="rw"))
    wrong = {**info, **nbd_psk.Psk.new("att-1").data()}
    with pytest.raises(CliError):
        attach.probe(attachment_pb2.ConnectionInfo(driver_volume_type="nbd", data=wrong, access_mode="rw"))
    assert "does not answer" in capsys.readouterr().err
