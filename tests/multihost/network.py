"""Hosts on one machine: each a Linux network namespace with one veth link to
a bridge in a namespace of its own (the switch), addressed from 198.18.0.0/15."""

from __future__ import annotations

import ctypes
import itertools
import os
import pathlib
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

from tests import prerequisites

NETNS_DIR = pathlib.Path("/run/netns")
SUBNET = "198.18.0.{}"
PREFIX_LENGTH = 24
CLONE_NEWNET = 0x40000000
_numbers = itertools.count(1)
T = TypeVar("T")


def require() -> None:
    """Skips (or fails, under EMBER_REQUIRE_NETNS) where hosts cannot be built."""
    if os.geteuid() != 0:
        prerequisites.missing("multi-host tests build network namespaces, which needs root", "EMBER_REQUIRE_NETNS")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        prerequisites.missing(f"multi-host tests need iproute2's `ip netns`: {probe.stderr.strip()}",
                              "EMBER_REQUIRE_NETNS")


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Host:
    """One host: its namespace, its address on the bridge, its data directory."""

    def __init__(self, network: "Network", name: str, number: int, address: str = ""):
        self.network, self.name, self.number = network, name, number
        self.namespace = f"{network.prefix}-{name}"
        self.address = address or SUBNET.format(number)
        self.data_dir = network.root / name
        self.link = f"v{number}"

    def command(self, argv: list[str]) -> list[str]:
        """`argv` as run on this host."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), **kwargs)

    def inside(self, fn: Callable[[], T]) -> T:
        """fn() on a thread of this process that has entered the host's
        namespace: its plain sockets (and asyncio's) are the host's. Not for
        gRPC, whose own threads stay where they were made."""
        result: list = []

        def enter_and_run() -> None:
            try:
                with open(NETNS_DIR / self.namespace) as ns:
                    if ctypes.CDLL(None, use_errno=True).setns(ns.fileno(), CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {self.namespace}")
                result.append((True, fn()))
            except BaseException as exc:
                result.append((False, exc))

        thread = threading.Thread(target=enter_and_run, name=f"in-{self.name}")
        thread.start()
        thread.join()
        ok, value = result[0]
        if not ok:
            raise value
        return value

    def cut(self) -> None:
        """The host's cable pulled: its packets go nowhere, its processes run on."""
        ip("-n", self.network.switch, "link", "set", self.link, "down")

    def reconnect(self) -> None:
        ip("-n", self.network.switch, "link", "set", self.link, "up")

    def pids(self) -> list[int]:
        listed = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True)
        return [int(pid) for pid in listed.stdout.split()]

    def __repr__(self) -> str:
        return f"Host({self.name} {self.address})"


class Network:
    """A bridge and the hosts on it; `close()` kills every process in the
    hosts and removes them, whatever state a failed test left."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        # Names of this process's own, and of this network's among them: two
        # runs on one machine, or two networks in one run, never share hosts.
        self.prefix = f"ember{os.getpid()}-{next(_numbers)}"
        self.switch = f"{self.prefix}-switch"
        self.hosts: dict[str, Host] = {}
        remove_leftovers()
        self._namespaces = [self.switch]
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def add(self, name: str, number: int, address: str = "") -> Host:
        """A host at `address` (default 198.18.0.<number>; a /24 either way),
        linked to the bridge, its loopback up."""
        host = Host(self, name, number, address)
        ip("netns", "add", host.namespace)
        self._namespaces.append(host.namespace)
        ip("link", "add", host.link, "netns", self.switch, "type", "veth", "peer", "name", "eth0",
           "netns", host.namespace)
        ip("-n", self.switch, "link", "set", host.link, "master", "br0", "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/{PREFIX_LENGTH}", "dev", "eth0")
        ip("-n", host.namespace, "link", "set", "eth0", "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        host.data_dir.mkdir(parents=True, exist_ok=True)
        self.hosts[name] = host
        return host

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def close(self) -> None:
        for namespace in reversed(self._namespaces):
            _remove(namespace)
        self._namespaces.clear()


def _remove(namespace: str) -> None:
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    for pid in listed.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def remove_leftovers() -> None:
    """Namespaces of test runs that died before they could clean up."""
    for path in NETNS_DIR.glob("ember*-*") if NETNS_DIR.exists() else ():
        owner = path.name.removeprefix("ember").partition("-")[0]
        if owner.isdigit() and not _alive(int(owner)):
            _remove(path.name)
