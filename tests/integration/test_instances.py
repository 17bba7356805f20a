"""A guest on an Ember volume: `ember instance run` attaches the volume,
boots QEMU (software emulation) with it as the guest's virtio disk, runs a
command in the guest and detaches. Data crosses between host and guest both
ways, a read-only attachment is read-only inside the guest, and a running
guest holds its volume against deletion and against a second writer unless
the type allows multi-attach."""

import json
import os
import select
import signal
import subprocess
import sys
import time

import grpc
import pytest

from ember.v1 import attachment_pb2, volume_pb2
from tests import nbd
from tests.harness import running
from tests.integration.test_attachments import attach, detach, fails, volume_file
from tests.integration.test_backups import digest
from tests.qemu import require_tools

MIB = 1024 * 1024
EMBER = [sys.executable, "-m", "cli"]
GUEST_OFFSET = 8 * MIB
GUEST_DATA = b"written-by-the-guest"
BOOT_TIMEOUT = 120


@pytest.fixture(scope="module", autouse=True)
def tools():
    nbd.require_tools()
    require_tools()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """SQLite only: what is under test is the compute host, not the database."""
    with running(tmp_path_factory.mktemp("ember")) as c:
        yield c


@pytest.fixture(scope="module")
def compute_dir(guest_image):
    """The compute host's data directory, with the guest image built once."""
    return guest_image


def env(cluster, project: str) -> dict[str, str]:
    return {**os.environ, "EMBER_URL": cluster.gateway, "EMBER_TOKEN": cluster.token(project)}


def instance_run(compute_dir, volume_id, *args) -> list[str]:
    return [*EMBER, "instance", "run", "--volume", volume_id, "--data-dir", str(compute_dir), *args]


def run_guest(cluster, compute_dir, project, volume_id, *args) -> subprocess.CompletedProcess:
    return subprocess.run(instance_run(compute_dir, volume_id, *args), capture_output=True,
                          env=env(cluster, project), timeout=BOOT_TIMEOUT + 60)


def write_from_host(client, volume_id, data_file) -> None:
    attachment = attach(client, volume_id)
    assert nbd.write(data_file, attachment.connection_info.data).returncode == 0
    detach(client, attachment.id)


def read_from_host(client, volume_id, destination) -> bytes:
    attachment = attach(client, volume_id)
    nbd.read(attachment.connection_info.data, destination)
    detach(client, attachment.id)
    return destination.read_bytes()


def assert_released(client, volume_id) -> None:
    assert client.get(volume_id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    listed = client.call(client.volumes.ListAttachments, attachment_pb2.ListAttachmentsRequest(volume_id=volume_id))
    assert list(listed.attachments) == []


@pytest.fixture
def known(tmp_path):
    path = tmp_path / "known.bin"
    path.write_bytes(os.urandom(4 * MIB))
    return path


def test_image_is_cached(compute_dir):
    manifest = (compute_dir / "guest" / "manifest.json").read_text()
    again = subprocess.run([*EMBER, "instance", "image", "--data-dir", str(compute_dir)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "building" not in again.stderr
    assert (compute_dir / "guest" / "manifest.json").read_text() == manifest
    assert json.loads(manifest)["kernel_package"].startswith("linux-image-")


@pytest.mark.parametrize("transport", ["nbd", "local"])
def test_guest_reads_the_hosts_data_and_the_host_reads_the_guests(cluster, compute_dir, known, tmp_path, transport):
    client = cluster.client(f"guest-{transport}")
    volume = client.create_available(1)
    write_from_host(client, volume.id, known)
    command = (
        'dd if="$EMBER_DISK" bs=1M count=4 2>/dev/null | sha256sum; '
        'echo "serial=$(cat /sys/block/vda/serial) ro=$(cat /sys/block/vda/ro) volume=$EMBER_VOLUME"; '
        f'printf {GUEST_DATA.decode()} | dd of="$EMBER_DISK" bs=4096 seek={GUEST_OFFSET // 4096} 2>/dev/null'
    )
    done = run_guest(cluster, compute_dir, f"guest-{transport}", volume.id, "--instance", "vm-data",
                     "--transport", transport, "--host", "host-a", "--command", command)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    assert digest(known) in out
    assert f"serial={volume.id[:20]} ro=0 volume={volume.id}" in out
    assert f"over {transport}" in done.stderr.decode()
    assert_released(client, volume.id)

    image = read_from_host(client, volume.id, tmp_path / "after.bin")
    assert image[: known.stat().st_size] == known.read_bytes()
    assert image[GUEST_OFFSET: GUEST_OFFSET + len(GUEST_DATA)] == GUEST_DATA
    assert (compute_dir / "instances" / "vm-data" / "console.log").exists()


def test_a_read_only_guest_cannot_write(cluster, compute_dir, known):
    """Over `local` the guest opens the volume's own writable file, so only
    the read-only disk Ember hands QEMU stands between the guest and it."""
    client = cluster.client("guest-ro")
    volume = client.create_available(1)
    write_from_host(client, volume.id, known)
    before = digest(volume_file(cluster, volume))
    command = (
        'echo "ro=$(cat /sys/block/vda/ro)"; dd if="$EMBER_DISK" bs=1M count=4 2>/dev/null | sha256sum; '
        'printf overwrite | dd of="$EMBER_DISK" conv=fsync'
    )
    done = run_guest(cluster, compute_dir, "guest-ro", volume.id, "--read-only", "--transport", "local",
                     "--host", "host-a", "--command", command)
    out = done.stdout.decode()
    assert done.returncode != 0, out
    assert "ro=1" in out and digest(known) in out
    assert "Read-only file system" in out or "Operation not permitted" in out
    assert "rw over" not in done.stderr.decode() and "ro over local" in done.stderr.decode()
    assert_released(client, volume.id)
    assert digest(volume_file(cluster, volume)) == before


class RunningGuest:
    """`ember instance run` left running in the background until stopped."""

    def __init__(self, cluster, compute_dir, project, volume_id, instance):
        self.process = subprocess.Popen(
            instance_run(compute_dir, volume_id, "--instance", instance, "--transport", "nbd",
                         "--command", "echo guest-is-up; sleep 300"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(cluster, project),
        )
        seen, deadline = b"", time.monotonic() + BOOT_TIMEOUT
        while b"guest-is-up" not in seen:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            chunk = os.read(self.process.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                self.process.kill()
                raise AssertionError(f"the guest did not come up: {self.process.stderr.read().decode()}")
            seen += chunk

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as a service manager would send: the guest stops, the volume is detached."""
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err.decode()


def test_a_running_guest_holds_its_volume(cluster, compute_dir):
    client = cluster.client("guest-held")
    volume = client.create_available(1)
    guest = RunningGuest(cluster, compute_dir, "guest-held", volume.id, "vm-1")
    try:
        assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_IN_USE
        (held,) = client.call(client.volumes.ListAttachments,
                              attachment_pb2.ListAttachmentsRequest(volume_id=volume.id)).attachments
        assert held.instance_id == "vm-1" and held.status == attachment_pb2.ATTACHMENT_STATUS_ATTACHED

        error = fails(client.delete, volume.id)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
        error = fails(attach, client, volume.id)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "multi-attach" in error.details()
        second = run_guest(cluster, compute_dir, "guest-held", volume.id, "--instance", "vm-2")
        assert second.returncode == 1 and b"FAILED_PRECONDITION" in second.stderr
        assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_IN_USE
    finally:
        code, err = guest.stop()
    assert code == 130, err
    assert "interrupted; guest stopped, volume detached" in err
    assert_released(client, volume.id)


def test_a_multiattach_volume_is_shared_by_two_running_guests(cluster, compute_dir, known):
    admin = cluster.client("guest-shared", admin=True)
    shared = admin.make_type("guest-shared", extra_specs={"multiattach": "<is> True"}, is_public=True)
    client = cluster.client("guest-shared")
    volume = client.create_available(1, volume_type=shared.name)
    assert volume.multiattach
    write_from_host(client, volume.id, known)
    guest = RunningGuest(cluster, compute_dir, "guest-shared", volume.id, "vm-1")
    try:
        second = run_guest(cluster, compute_dir, "guest-shared", volume.id, "--instance", "vm-2",
                           "--transport", "nbd", "--command",
                           'dd if="$EMBER_DISK" bs=1M count=4 2>/dev/null | sha256sum')
        assert second.returncode == 0, second.stderr.decode()
        assert digest(known) in second.stdout.decode()
        assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_IN_USE
        assert fails(client.delete, volume.id).code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        code, err = guest.stop()
    assert code == 130, err
    assert_released(client, volume.id)


def test_a_guest_that_cannot_start_leaves_no_attachment(cluster, compute_dir):
    client = cluster.client("guest-broken")
    volume = client.create_available(1)
    done = run_guest(cluster, compute_dir, "guest-broken", volume.id, "--memory", "1", "--transport", "nbd")
    assert done.returncode == 1
    assert b"the guest stopped before its command finished" in done.stderr
    assert_released(client, volume.id)

