"""Bursts of named creates for the fault tests (those across hosts, and the
NATS cluster's on loopback): all sent at once, a fault struck once some have
been answered, and what each create came to (its Operation, or its error)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.longrunning import operations_pb2

from ember.v1 import volume_pb2
from tests.multihost import checks

# What a caller may see while a host is away; with a request_id it may send
# the same create again (AIP-155) and gets the first one's Operation back.
TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

Outcome = operations_pb2.Operation | grpc.RpcError
# Request ids of this run: one per create name (names are unique within a
# test's project, and request ids need only be unique within a project).
RUN = uuid.uuid4()


def request_id_of(name: str) -> str:
    """The request_id of the create named `name`: sending it again asks for the same create."""
    return str(uuid.uuid5(RUN, name))


def create(client, name: str, request_id: str, patience: float = 0.0, timeout: float = 10.0, **fields) -> Outcome:
    """One 1 GiB create named `name`, with a deadline of `timeout` seconds;
    sent again with the same request_id on a transient error until
    `patience` seconds have passed (0: sent once)."""
    request = volume_pb2.CreateVolumeRequest(size_gb=1, name=name, request_id=request_id, **fields)
    deadline = time.monotonic() + patience
    while True:
        try:
            return client.call(client.volumes.CreateVolume, request, timeout)
        except grpc.RpcError as error:
            if error.code() not in TRANSIENT or time.monotonic() >= deadline:
                return error
        time.sleep(0.5)


def burst(client, count: int, prefix: str, strike: Callable[[], None], after: int, patience: float = 0.0,
          timeout: float = 10.0, **fields) -> dict[str, Outcome]:
    """`count` creates at once, each with a name and its request_id;
    strike() runs once `after` of them have been answered, while the rest are
    in flight. Returns each name's outcome."""
    answered = threading.Semaphore(0)

    def one(name: str) -> Outcome:
        try:
            return create(client, name, request_id_of(name), patience, timeout, **fields)
        finally:
            answered.release()

    names = [f"{prefix}-{i}" for i in range(count)]
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(one, name) for name in names]
        for _ in range(after):
            answered.acquire()
        strike()
        return {name: future.result() for name, future in zip(names, futures)}


def refused(outcomes: dict[str, Outcome]) -> dict[str, str]:
    """The creates that were refused: name -> their code and details."""
    return {name: f"{o.code().name}: {o.details()}" for name, o in outcomes.items() if isinstance(o, grpc.RpcError)}


def finished(client, outcomes: dict[str, Outcome], timeout: float = checks.SETTLE) -> dict[str, operations_pb2.Operation]:
    """Every accepted create's Operation once it is done, or an AssertionError
    naming those that did not finish within `timeout`."""
    deadline = time.monotonic() + timeout
    done: dict[str, operations_pb2.Operation] = {}
    for name, op in outcomes.items():
        if isinstance(op, grpc.RpcError):
            continue
        left = max(deadline - time.monotonic(), 1.0)
        done[name] = checks.wait_for(lambda op=op, left=left: client.wait(op, timeout=min(left, 30)),
                                     lambda op: op.done, left, f"create {name} ({op.name}) not done")
    return done


def volumes_by_name(client) -> dict[str, list[volume_pb2.Volume]]:
    found: dict[str, list[volume_pb2.Volume]] = {}
    for volume in checks.list_all(client)["volume"]:
        found.setdefault(volume.name, []).append(volume)
    return found
