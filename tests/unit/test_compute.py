"""The compute host's pieces without a network: QEMU's disk and command line
from connection info, the per-run initramfs, the exit status read off the
console, the runner against fake QEMUs, and the guest image's cache."""

import gzip
import json
import lzma
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
import zstandard

from compute import guest_image, qemu
from compute.guest_image import GuestImage

NBD_DATA = {"uri": "nbd://127.0.0.1:10809/att-1", "host": "127.0.0.1", "port": "10809", "export_name": "att-1"}


def test_an_nbd_disk_opens_the_export_and_a_read_only_one_is_read_only():
    disk = qemu.Disk("nbd", NBD_DATA, read_only=True)
    assert disk.blockdev() == {
        "driver": "raw", "node-name": "volume", "read-only": True,
        "file": {"driver": "nbd", "server": {"type": "inet", "host": "127.0.0.1", "port": "10809"},
                 "export": "att-1", "read-only": True},
    }


def test_a_local_disk_opens_the_file_read_write():
    blockdev = qemu.Disk("local", {"device_path": "/v/volume-1"}, read_only=False).blockdev()
    assert blockdev["read-only"] is False
    assert blockdev["file"] == {"driver": "file", "filename": "/v/volume-1", "read-only": False}


def test_an_unknown_transport_is_refused():
    with pytest.raises(qemu.GuestError, match="'iscsi'"):
        qemu.Disk("iscsi", {}, read_only=False).blockdev()


def test_the_device_carries_a_short_serial_and_shares_writes_only_when_multiattach():
    volume_id = "0123456789abcdef0123456789"
    assert qemu.Disk("nbd", NBD_DATA, False, serial=volume_id).device() == \
        "virtio-blk-pci,drive=volume,serial=0123456789abcdef0123"
    assert qemu.Disk("nbd", NBD_DATA, False, shared=True).device() == "virtio-blk-pci,drive=volume,share-rw=on"


def image(tmp_path) -> GuestImage:
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd.gz").write_bytes(gzip.compress(b"base archive"))
    return GuestImage(tmp_path / "vmlinuz", tmp_path / "initrd.gz", {})


def test_the_command_line_uses_tcg_unless_told_and_escapes_commas(tmp_path):
    disk = qemu.Disk("nbd", NBD_DATA, read_only=False)
    argv = qemu.command_line(image(tmp_path), tmp_path / "initrd", disk, tmp_path / "a,b" / "console.log",
                             qemu.Machine())
    assert argv[argv.index("-accel") + 1] == "tcg" and argv[argv.index("-cpu") + 1] == "max"
    assert f"file,id=console,path={tmp_path}/a,,b/console.log" in argv
    assert json.loads(argv[argv.index("-blockdev") + 1]) == disk.blockdev()
    kvm = qemu.command_line(image(tmp_path), tmp_path / "i", disk, tmp_path / "c", qemu.Machine(accel="kvm"))
    assert kvm[kvm.index("-cpu") + 1] == "host"


def test_the_run_initrd_appends_the_command_aligned_and_quotes_the_environment(tmp_path):
    built = image(tmp_path)
    odd = built.initrd.read_bytes() + b"x"
    built.initrd.write_bytes(odd)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tricky = "it's \"$HOME\" and `x`"
    initrd = qemu.run_initrd(built, "echo hi", {"EMBER_VOLUME": tricky}, run_dir)
    data = initrd.read_bytes()
    start = len(odd) + (-len(odd) % 4)
    assert data[: len(odd)] == odd and start % 4 == 0 and data[len(odd): start] == b"\0" * (start - len(odd))
    listed = subprocess.run(["cpio", "-t", "--quiet"], input=data[start:], capture_output=True, check=True)
    assert set(listed.stdout.decode().split()) == {"ember", "ember/command", "ember/env"}
    extract = tmp_path / "extract"
    extract.mkdir()
    subprocess.run(["cpio", "-id", "--quiet"], input=data[start:], cwd=extract, check=True)
    assert (extract / "ember" / "command").read_text() == "echo hi\n"
    sourced = subprocess.run(["sh", "-c", '. ./ember/env; printf %s "$EMBER_VOLUME"'], cwd=extract,
                             capture_output=True, text=True, check=True)
    assert sourced.stdout == tricky
    assert not (run_dir / "tree").exists()


def test_the_exit_status_is_the_last_marker_on_the_console(tmp_path):
    console = tmp_path / "console.log"
    assert qemu.exit_status(console) is None
    console.write_bytes(b"[ 1.0] boot\r\nember-exit 3\r\n")
    assert qemu.exit_status(console) == 3
    console.write_bytes(b"ember-exit 3 was printed by the command\n")
    assert qemu.exit_status(console) is None


def only_cpio_on_path(tmp_path, monkeypatch) -> pathlib.Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cpio").symlink_to(shutil.which("cpio"))
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def fake_qemu(tmp_path, monkeypatch, body: str) -> None:
    """A qemu-system-x86_64 on PATH; `console` is the path QEMU would log to."""
    bin_dir = only_cpio_on_path(tmp_path, monkeypatch)
    script = bin_dir / qemu.QEMU
    script.write_text(f"#!{sys.executable}\nimport sys, time\n"
                      "console = [a for a in sys.argv if a.startswith('file,id=console,path=')][0].split('=', 2)[2]\n"
                      + textwrap.dedent(body))
    script.chmod(0o755)


def test_the_runner_streams_the_output_and_returns_the_status(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch, """
        sys.stdout.buffer.write(b"binary\\x00out\\n"); sys.stdout.flush()
        open(console, "w").write("ember-exit 7\\n")
    """)
    out = tmp_path / "out"
    with open(out, "wb") as output:
        status = qemu.run(image(tmp_path), qemu.Disk("nbd", NBD_DATA, False), "true", tmp_path / "run", output)
    assert status == 7 and out.read_bytes() == b"binary\x00out\n"
    assert not (tmp_path / "run" / "initrd").exists()


def test_a_guest_past_its_timeout_is_stopped(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch, """
        import os
        open(sys.argv[0] + ".pid", "w").write(str(os.getpid()))
        time.sleep(60)
    """)
    with open(tmp_path / "out", "wb") as output, pytest.raises(qemu.GuestError, match="within 0.5 s"):
        qemu.run(image(tmp_path), qemu.Disk("nbd", NBD_DATA, False), "sleep 60", tmp_path / "run", output,
                 qemu.Machine(timeout=0.5))
    pid = int((tmp_path / "bin" / f"{qemu.QEMU}.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_guest_that_dies_early_names_qemus_complaint(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch, """
        sys.stderr.write("qemu: could not open disk\\n")
        sys.exit(1)
    """)
    with open(tmp_path / "out", "wb") as output, pytest.raises(qemu.GuestError, match="could not open disk"):
        qemu.run(image(tmp_path), qemu.Disk("nbd", NBD_DATA, False), "true", tmp_path / "run", output)


KEY = "ab" * 32
TLS_DATA = {**NBD_DATA, "uri": "nbds://127.0.0.1:10809/att-1", "tls": "psk", "tls_psk_identity": "att-1",
            "tls_psk_key": KEY}


def test_an_export_with_a_psk_gets_qemus_tls_credentials_and_the_key_stays_off_the_command_line(tmp_path):
    disk = qemu.Disk("nbd", TLS_DATA, read_only=False)
    assert disk.blockdev()["file"]["tls-creds"] == qemu.TLS_CREDS
    argv = qemu.command_line(image(tmp_path), tmp_path / "initrd", disk, tmp_path / "c", qemu.Machine(),
                             tls_dir=tmp_path / "tls")
    creds = json.loads(argv[argv.index("-object") + 1])
    assert creds == {"qom-type": "tls-creds-psk", "id": qemu.TLS_CREDS, "endpoint": "client",
                     "dir": str(tmp_path / "tls"), "username": "att-1"}
    assert not any(KEY in a for a in argv)
    with pytest.raises(qemu.GuestError, match="requires TLS-PSK"):
        qemu.command_line(image(tmp_path), tmp_path / "initrd", disk, tmp_path / "c", qemu.Machine())
    plain = qemu.Disk("nbd", NBD_DATA, read_only=False)
    assert "tls-creds" not in plain.blockdev()["file"]
    assert "-object" not in qemu.command_line(image(tmp_path), tmp_path / "i", plain, tmp_path / "c", qemu.Machine())


def test_the_key_waits_in_a_private_directory_while_the_guest_runs_and_goes_with_it(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch, """
        import json, os, stat
        creds = json.loads(sys.argv[sys.argv.index("-object") + 1])
        mode = lambda path: oct(stat.S_IMODE(os.stat(path).st_mode))
        key_file = os.path.join(creds["dir"], "keys.psk")
        print(creds["dir"], mode(creds["dir"]), mode(key_file), open(key_file).read().strip())
        open(console, "w").write("ember-exit 0\\n")
    """)
    out = tmp_path / "out"
    with open(out, "wb") as output:
        assert qemu.run(image(tmp_path), qemu.Disk("nbd", TLS_DATA, False), "true", tmp_path / "run", output) == 0
    directory, dir_mode, file_mode, line = out.read_text().split()
    assert (dir_mode, file_mode, line) == ("0o700", "0o600", f"att-1:{KEY}")
    assert not pathlib.Path(directory).exists(), "the key outlived the guest"


def test_a_missing_qemu_says_what_to_install(tmp_path, monkeypatch):
    only_cpio_on_path(tmp_path, monkeypatch)
    with open(tmp_path / "out", "wb") as output, pytest.raises(qemu.GuestError, match="qemu-system-x86"):
        qemu.run(image(tmp_path), qemu.Disk("nbd", NBD_DATA, False), "true", tmp_path / "run", output)
    assert not (tmp_path / "run" / "initrd").exists()


def cached(tmp_path, init_sha256: str) -> pathlib.Path:
    directory = guest_image.image_dir(tmp_path)
    directory.mkdir()
    (directory / "vmlinuz").write_bytes(b"k")
    (directory / "initrd.gz").write_bytes(b"i")
    (directory / "manifest.json").write_text(json.dumps({"init_sha256": init_sha256}))
    return directory


def test_a_cached_image_is_used_without_apt(tmp_path, monkeypatch):
    cached(tmp_path, guest_image._init_hash())
    monkeypatch.setattr(guest_image, "_build", lambda directory: pytest.fail("rebuilt a current image"))
    assert guest_image.ensure(tmp_path, log=lambda line: None).kernel.read_bytes() == b"k"


def test_an_image_with_another_init_or_a_missing_file_is_rebuilt(tmp_path, monkeypatch):
    directory = cached(tmp_path, "an older init")
    assert GuestImage.load(directory) is None
    (directory / "manifest.json").write_text(json.dumps({"init_sha256": guest_image._init_hash()}))
    assert GuestImage.load(directory) is not None
    (directory / "initrd.gz").unlink()
    assert GuestImage.load(directory) is None


def test_an_image_built_with_other_modules_is_rebuilt(tmp_path, monkeypatch):
    # /init loads the modules in the order the image lists, so the list is part of what it does.
    directory = cached(tmp_path, guest_image._init_hash())
    monkeypatch.setattr(guest_image, "MODULES", guest_image.MODULES[:-1])
    assert GuestImage.load(directory) is None


def test_without_apt_the_build_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(guest_image.platform, "machine", lambda: "x86_64")
    with pytest.raises(guest_image.ImageError, match="needs apt-get"):
        guest_image.ensure(tmp_path, log=lambda line: None)
    assert not (guest_image.image_dir(tmp_path) / "manifest.json").exists()


def test_the_kernel_package_is_the_one_the_metapackage_depends_on(tmp_path, monkeypatch):
    fetched = []

    def download(package, into):
        fetched.append(package)
        return into / f"{package}.deb"

    monkeypatch.setattr(guest_image, "_download", download)
    monkeypatch.setattr(guest_image, "_field", lambda deb, name: "linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)")
    assert guest_image._kernel_deb(tmp_path).name == "linux-image-6.1.0-57-cloud-amd64.deb"
    assert fetched == ["linux-image-cloud-amd64", "linux-image-6.1.0-57-cloud-amd64"]


@pytest.mark.parametrize("suffix, pack", [
    (".ko", lambda b: b), (".ko.xz", lzma.compress), (".ko.zst", zstandard.ZstdCompressor().compress),
])
def test_modules_are_stored_uncompressed_for_busybox_insmod(tmp_path, suffix, pack):
    module = tmp_path / "lib" / "modules" / "6.1" / "kernel" / "drivers" / f"virtio_blk{suffix}"
    module.parent.mkdir(parents=True)
    module.write_bytes(pack(b"\x7fELF module"))
    assert guest_image._module_bytes(guest_image._find_module(tmp_path, "virtio_blk")) == b"\x7fELF module"
