"""The backup service's NBD client against a real nbdkit: reads and writes
kept in flight together come back in order, land where they were meant to,
and report the server's failures. nbdkit's log filter records when each
request starts and ends, which shows how many were in flight at once."""

import os
import re
import subprocess
import time

import pytest

from backup.nbd_client import NbdClient, NbdError
from tests import nbd

KIB = 1024
MIB = 1024 * KIB


@pytest.fixture
def serve(tmp_path):
    """serve(path, *filters, **parameters) -> the URI of an nbdkit export of
    the file, through those filters, logging every request to path.log."""
    nbd.require_tools()
    servers = []

    def start(path, *filters, **parameters):
        socket = tmp_path / f"export-{len(servers)}.sock"
        command = ["nbdkit", "-f", "--exit-with-parent", "-U", str(socket), "--filter=log",
                   *(f"--filter={f}" for f in filters), "file", f"file={path}", f"logfile={path}.log",
                   *(f"{k.replace('_', '-')}={v}" for k, v in parameters.items())]
        servers.append(subprocess.Popen(command, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return f"nbd+unix:///?socket={socket}"

    yield start
    for server in servers:
        server.terminate()
        server.wait(10)


def log_of(path):
    return path.with_name(path.name + ".log")


def requests(log_path, verb: str) -> list[tuple[str, int, int, int]]:
    """("start" or "end", request id, offset, count) of each logged request
    of the verb, in the order the server saw them."""
    found, sizes = [], {}
    for line in log_path.read_text().splitlines():
        started = re.search(rf" {verb} id=(\d+) offset=0x([0-9a-f]+) count=0x([0-9a-f]+)", line)
        if started:
            key = int(started[1])
            sizes[key] = (int(started[2], 16), int(started[3], 16))
            found.append(("start", key, *sizes[key]))
        ended = re.search(rf"\.\.\.{verb} id=(\d+) return", line)
        if ended:
            found.append(("end", int(ended[1]), *sizes[int(ended[1])]))
    return found


def most_in_flight(events) -> int:
    level = peak = 0
    for kind, *_ in events:
        level += 1 if kind == "start" else -1
        peak = max(peak, level)
    return peak


def test_reads_are_kept_in_flight_and_come_back_in_order(tmp_path, serve):
    path = tmp_path / "volume.img"
    path.write_bytes(os.urandom(8 * MIB))
    # The delay holds each read long enough that the next ones are sent meanwhile.
    uri = serve(path, "delay", delay_read="20ms")
    blocks = [(offset, 256 * KIB) for offset in range(0, 8 * MIB, 256 * KIB)][::-1]
    with NbdClient(uri, depth=4) as client:
        got = list(client.read_blocks(blocks))
    data = path.read_bytes()
    assert [offset for offset, _ in got] == [offset for offset, _ in blocks]
    assert all(bytes(block) == data[offset:offset + 256 * KIB] for offset, block in got)
    reads = requests(log_of(path), "Read")
    assert len(reads) == 2 * len(blocks)
    assert most_in_flight(reads) == 4


def test_a_reader_stopped_early_waits_for_its_reads_and_leaves_the_connection_usable(tmp_path, serve):
    path = tmp_path / "volume.img"
    path.write_bytes(os.urandom(4 * MIB))
    uri = serve(path, "delay", delay_read="20ms")
    with NbdClient(uri, depth=8) as client:
        reads = client.read_blocks((offset, 128 * KIB) for offset in range(0, 4 * MIB, 128 * KIB))
        first = next(reads)
        reads.close()
        assert bytes(first[1]) == path.read_bytes()[:128 * KIB]
        assert client.pread(KIB, 3 * MIB) == path.read_bytes()[3 * MIB:3 * MIB + KIB]
    # Every read sent was answered before the generator let its buffers go.
    events = requests(log_of(path), "Read")
    assert sorted(k for kind, k, *_ in events if kind == "start") == sorted(k for kind, k, *_ in events if kind == "end")


def test_writes_are_kept_in_flight_and_an_overlapping_one_waits_for_the_one_it_overlaps(tmp_path, serve):
    path = tmp_path / "volume.img"
    with open(path, "wb") as f:
        f.truncate(8 * MIB)
    uri = serve(path, "delay", delay_write="20ms")
    first, second, overlapping = os.urandom(MIB), os.urandom(MIB), os.urandom(MIB)
    with NbdClient(uri, depth=4) as client:
        client.pwrite(first, 0)
        client.pwrite(second, 4 * MIB)
        client.zero(MIB, 6 * MIB)
        client.pwrite(overlapping, MIB // 2)
        client.flush()
    data = path.read_bytes()
    assert data[:MIB // 2] == first[:MIB // 2] and data[MIB // 2:MIB // 2 + MIB] == overlapping
    assert data[4 * MIB:5 * MIB] == second and data[6 * MIB:7 * MIB] == bytes(MIB)

    writes = requests(log_of(path), "Write")
    assert most_in_flight(writes) >= 2
    (first_id,) = [k for kind, k, offset, _ in writes if kind == "start" and offset == 0]
    (late_id,) = [k for kind, k, offset, _ in writes if kind == "start" and offset == MIB // 2]
    order = [(kind, k) for kind, k, *_ in writes]
    assert order.index(("end", first_id)) < order.index(("start", late_id))


def test_a_write_the_server_fails_raises_when_the_client_waits_for_it(tmp_path, serve):
    path = tmp_path / "volume.img"
    with open(path, "wb") as f:
        f.truncate(MIB)
    uri = serve(path, "error", error_pwrite="EIO", error_pwrite_rate="100%")
    client = NbdClient(uri)
    client.pwrite(os.urandom(64 * KIB), 0)
    with pytest.raises(NbdError, match="Input/output error"):
        client.flush()
    client.close()
    assert path.read_bytes() == bytes(MIB)
