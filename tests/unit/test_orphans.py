"""Children started by the launcher start reliably next to busy gRPC
channels, and stop when the process that started them dies."""

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ember import orphans

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")


async def test_children_start_while_grpc_calls_are_in_flight():
    # A preexec_fn crashed a quarter to a half of such children (SIGSEGV, SIGABRT)
    # before they could exec (grpc/grpc#43055).
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    busy = True

    async def calls(stub):
        while busy:
            await stub.Check(health_pb2.HealthCheckRequest())

    def start_one() -> tuple[int, bytes]:
        child = orphans.spawn(["true"], subprocess.PIPE)
        _, err = child.communicate(timeout=30)
        return child.returncode, err

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        callers = [asyncio.create_task(calls(health_pb2_grpc.HealthStub(channel))) for _ in range(4)]
        try:
            ended = [await asyncio.to_thread(start_one) for _ in range(60)]
        finally:
            busy = False
            await asyncio.gather(*callers, return_exceptions=True)
    await server.stop(None)
    assert [e for e in ended if e != (0, b"")] == []


def state(pid: int) -> str:
    """The process's state letter, or "gone"."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return stat.rpartition(")")[2].split()[0]


@linux_only
def test_a_child_gets_sigterm_when_its_parent_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom ember import orphans\n"
         "child = orphans.spawn(['sleep', '120'], None)\nprint(child.pid, flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        child = int(parent.stdout.readline())
        command = pathlib.Path(f"/proc/{child}/cmdline")
        deadline = time.monotonic() + 10
        while not command.read_text().startswith("sleep\0") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert command.read_text().startswith("sleep\0"), "the command runs in the child's place"
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while state(child) not in ("gone", "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    if state(child) not in ("gone", "Z"):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")


def test_a_child_whose_parent_is_already_gone_does_not_start():
    # Pid 1 is never this test's pid, so the child sees "its" parent gone.
    started = subprocess.run([sys.executable, "-m", "ember.orphans", "1", "echo", "started"],
                             capture_output=True, text=True, timeout=30)
    assert started.returncode == 1 and started.stdout == ""
    assert "the process that started it (pid 1) is gone" in started.stderr
