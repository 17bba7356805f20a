"""Ember from Python through one gateway or several: create a volume under a
request_id, wait until it is available, find it in the list, delete it.

    EMBER_URL=10.0.0.1:8776,10.0.0.2:8776 EMBER_TOKEN=$(ember token create --project demo) \\
        python examples/python/ember_client.py

It needs grpcio and Ember's stubs (installing this repository brings both;
stubs generated from protos/ do as well). Prints one JSON line with what it
did; exits 1 with the gRPC status on failure.

gRPC itself moves on from a gateway that cannot be reached: one channel
holds every gateway, round_robin sends each call to a gateway it is
connected to and leaves out those it cannot connect to, and a retryPolicy
sends a call that ended UNAVAILABLE again (to the next gateway) -- but only
for the calls listed in SAFE_TO_REPEAT, the reads and the changes this
example always sends with a request_id. A change sent twice without one
could be done twice.
"""

import json
import os
import socket
import sys
import uuid

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2

from ember.v1 import volume_pb2, volume_pb2_grpc

SAFE_TO_REPEAT = [
    {"service": "ember.v1.VolumeService", "method": "GetVolume"},
    {"service": "ember.v1.VolumeService", "method": "ListVolumes"},
    {"service": "google.longrunning.Operations", "method": "WaitOperation"},
    # Ember answers a repeated request_id with what the first call started.
    {"service": "ember.v1.VolumeService", "method": "CreateVolume"},
    {"service": "ember.v1.VolumeService", "method": "DeleteVolume"},
]
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": SAFE_TO_REPEAT,
        "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.2s", "maxBackoff": "2s", "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"]},
    }],
}


def target(gateways: list[str]) -> str:
    """One gRPC target for every gateway. A list of addresses is an `ipv4:`
    target, which takes IP addresses only: host names are looked up here,
    once (IPv6 gateways would need an `ipv6:[addr]:port,...` target)."""
    if len(gateways) == 1:
        return gateways[0]
    found = []
    for gateway in gateways:
        host, _, port = gateway.rpartition(":")
        found.append(f"{socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)[0][4][0]}:{port}")
    return "ipv4:" + ",".join(found)


def channel(gateways: list[str]) -> grpc.Channel:
    options = [("grpc.service_config", json.dumps(SERVICE_CONFIG)), ("grpc.enable_retries", 1)]
    ca = os.environ.get("EMBER_TLS_CA")
    if not ca:
        return grpc.insecure_channel(target(gateways), options=options)
    if len(gateways) > 1:
        # One channel checks every gateway's certificate against one name: the
        # first gateway's host, unless EMBER_TLS_NAME names the one they share.
        name = os.environ.get("EMBER_TLS_NAME") or gateways[0].rpartition(":")[0]
        options.append(("grpc.default_authority", name))
    with open(ca, "rb") as f:
        credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.secure_channel(target(gateways), credentials, options=options)


def done(operations, metadata, op: operations_pb2.Operation) -> operations_pb2.Operation:
    """The operation once it is done (WaitOperation returns early at progress steps)."""
    while not op.done:
        op = operations.WaitOperation(operations_pb2.WaitOperationRequest(
            name=op.name, timeout=duration_pb2.Duration(seconds=30)), metadata=metadata, timeout=40)
    if op.HasField("error"):
        raise SystemExit(f"error: {op.name} failed: {op.error.message}")
    return op


def main() -> None:
    token = os.environ.get("EMBER_TOKEN") or sys.exit("set EMBER_TOKEN (ember token create --project demo)")
    gateways = [g.strip() for g in os.environ.get("EMBER_URL", "127.0.0.1:8776").split(",") if g.strip()]
    metadata = (("authorization", f"Bearer {token}"),)
    with channel(gateways) as ch:
        volumes, operations = volume_pb2_grpc.VolumeServiceStub(ch), operations_pb2_grpc.OperationsStub(ch)
        created = volumes.CreateVolume(volume_pb2.CreateVolumeRequest(
            size_gb=1, name="from-python", request_id=str(uuid.uuid4())), metadata=metadata, timeout=30)
        volume = volume_pb2.Volume()
        done(operations, metadata, created).response.Unpack(volume)
        listed = volumes.ListVolumes(volume_pb2.ListVolumesRequest(page_size=1000), metadata=metadata, timeout=30)
        deleted = volumes.DeleteVolume(volume_pb2.DeleteVolumeRequest(
            id=volume.id, request_id=str(uuid.uuid4())), metadata=metadata, timeout=30)
        done(operations, metadata, deleted)
    print(json.dumps({"volume": volume.id, "status": volume_pb2.VolumeStatus.Name(volume.status),
                      "listed": [v.id for v in listed.volumes].count(volume.id), "deleted": True}))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:
        sys.exit(f"error (gRPC status {error.code().name}): {error.details()}")
