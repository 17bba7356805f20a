"""The test bed itself: hosts reach each other over the bridge and nothing
else, a cut host reaches no one until it is reconnected, and closing the
network (or a later run, after a crash) kills the hosts' processes and
removes every namespace."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.multihost import network

LISTENER = "import socket,sys; s=socket.create_server((sys.argv[1], 7000)); print('up', flush=True); " \
           "[c.sendall(b'hello') or c.close() for c, _ in iter(s.accept, None)]"


@pytest.fixture
def bed(tmp_path):
    network.require()
    net = network.Network(tmp_path)
    try:
        yield net
    finally:
        net.close()


def hello(address: str) -> bytes:
    with socket.create_connection((address, 7000), timeout=2) as conn:
        return conn.recv(5)


def namespaces() -> set[str]:
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())


def test_hosts_talk_over_the_bridge_until_one_is_cut(bed):
    a, b = bed.add("a", 11), bed.add("b", 12)
    server = subprocess.Popen(b.command([sys.executable, "-c", LISTENER, b.address]), stdout=subprocess.PIPE)
    assert server.stdout.readline() == b"up\n"
    assert a.inside(lambda: hello(b.address)) == b"hello"
    # Each host has its own loopback: b's server is not on a's.
    with pytest.raises(OSError):
        a.inside(lambda: hello("127.0.0.1"))
    a.cut()
    with pytest.raises(OSError):
        a.inside(lambda: hello(b.address))
    a.reconnect()
    assert a.inside(lambda: hello(b.address)) == b"hello"
    assert server.pid in b.pids()


def test_closing_kills_every_process_and_removes_every_namespace(tmp_path):
    network.require()
    net = network.Network(tmp_path)
    host = net.add("a", 11)
    sleeper = subprocess.Popen(host.command(["sleep", "600"]))
    made = {net.switch, host.namespace}
    assert made <= namespaces()
    net.close()
    assert sleeper.wait(10) == -9
    assert not made & namespaces()


def test_leftovers_of_a_dead_run_are_removed_and_a_live_runs_kept(tmp_path):
    network.require()
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine = network.Network(tmp_path)
    try:
        orphan = f"ember{dead.pid}-host"
        subprocess.run(["ip", "netns", "add", orphan], check=True)
        network.remove_leftovers()
        assert orphan not in namespaces()
        assert mine.switch in namespaces()
    finally:
        mine.close()
