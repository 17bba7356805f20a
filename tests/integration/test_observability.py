"""The operator's view of a live Ember: request ids carried from the gateway
to the task handlers in JSON logs, Prometheus metrics on every service's
metrics port, and `ember status`."""

import json
import os
import time
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ember.v1 import backup_pb2, scheduler_pb2, status_pb2, status_pb2_grpc, volume_pb2
from tests.harness import Cluster
from tests.integration.live_util import ember

MIB = 1024 * 1024

@pytest.fixture(scope="module")
def cluster(tmp_path_factory, db_backend):
    c = Cluster(tmp_path_factory.mktemp("observability"), db_backend, EMBER_LOG_FORMAT="json")
    try:
        yield c.start_all()
    finally:
        c.stop()


def log_lines(cluster, name: str) -> list[dict]:
    """Every line of a service's log, each of which must be a JSON object."""
    proc = next(p for p in cluster.processes if p.name == name)
    return [json.loads(line) for line in proc.log().splitlines() if line.strip()]


def handled_under(cluster, service: str, request_id: str, subject: str, patience: float = 10.0) -> bool:
    """Whether the service logs the task done under the request id (the line
    follows the ack, so it may come just after the operation is seen done)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if any(e.get("request_id") == request_id and e.get("task") == subject for e in log_lines(cluster, service)):
            return True
        time.sleep(0.1)
    return False


def status(cluster) -> status_pb2.Status:
    admin = cluster.client("ops", admin=True)
    return admin.call(status_pb2_grpc.StatusServiceStub(admin.channel).GetStatus, status_pb2.GetStatusRequest())


def scrape(address: str) -> dict[tuple, float]:
    """(sample name, sorted labels) -> value, from a /metrics page."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def metrics_of(cluster, service: str) -> dict:
    address = next(i.metrics_address for i in status(cluster).instances if i.service == service)
    return scrape(address)


def test_a_request_id_is_returned_and_follows_the_call_into_every_task_handler(cluster):
    client = cluster.client("traced")
    metadata = client.metadata + (("x-request-id", "trace-create-42"),)
    op, call = client.volumes.CreateVolume.with_call(
        volume_pb2.CreateVolumeRequest(size_gb=1, name="traced"), metadata=metadata, timeout=10)
    assert ("x-request-id", "trace-create-42") in call.trailing_metadata()
    client.done(op, volume_pb2.Volume())

    gateway = [e for e in log_lines(cluster, "api_gateway") if e.get("request_id") == "trace-create-42"]
    assert [(e["method"], e["code"], e["project"]) for e in gateway] == [
        ("/ember.v1.VolumeService/CreateVolume", "OK", "traced")]
    assert gateway[0]["duration_ms"] > 0 and gateway[0]["service"] == "gateway"
    for service, subject in (("scheduler", "ember.tasks.scheduler.create"), ("volume", "ember.tasks.volume.host-a.create")):
        assert handled_under(cluster, service, "trace-create-42", subject)

    # An id a client may not choose (spaces, too long) is replaced by one of the gateway's.
    _, call = client.volumes.ListVolumes.with_call(
        volume_pb2.ListVolumesRequest(), metadata=client.metadata + (("x-request-id", "not a valid id"),), timeout=10)
    given = dict(call.trailing_metadata())["x-request-id"]
    assert given != "not a valid id" and len(given) == 32

    # Refusals carry the id too, next to their error details, from the gateway and from the services behind it.
    for request in (volume_pb2.GetVolumeRequest(id="no-such-volume"), volume_pb2.GetVolumeRequest()):
        with pytest.raises(grpc.RpcError) as refused:
            client.volumes.GetVolume(request, metadata=client.metadata + (("x-request-id", "trace-refused"),),
                                     timeout=10)
        trailing = dict(refused.value.trailing_metadata())
        assert trailing["x-request-id"] == "trace-refused" and "grpc-status-details-bin" in trailing
    with pytest.raises(grpc.RpcError) as denied:
        client.scheduler.ListPools(scheduler_pb2.ListPoolsRequest(),
                                   metadata=client.metadata + (("x-request-id", "trace-denied"),), timeout=10)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert dict(denied.value.trailing_metadata())["x-request-id"] == "trace-denied"


def test_every_service_serves_call_task_queue_and_backup_metrics(cluster):
    client = cluster.client("metered")
    volume = client.create_available(1)
    with pytest.raises(grpc.RpcError) as missing:
        client.get("00000000-0000-0000-0000-000000000000")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    data = os.urandom(8 * MIB)
    with open(cluster.root / "volumes" / "file" / "default" / f"volume-{volume.id}", "r+b") as f:
        f.write(data)
    client.done(client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=volume.id)),
                backup_pb2.Backup())

    gateway = metrics_of(cluster, "gateway")
    calls = dict(grpc_service="ember.v1.VolumeService", grpc_method="CreateVolume")
    assert metric(gateway, "grpc_server_handled_total", **calls, grpc_code="OK") >= 1
    assert metric(gateway, "grpc_server_handled_total", grpc_service="ember.v1.VolumeService",
                  grpc_method="GetVolume", grpc_code="NOT_FOUND") >= 1
    assert metric(gateway, "grpc_server_handling_seconds_count", **calls) >= 1
    assert metric(gateway, "grpc_server_handling_seconds_sum", **calls) > 0

    volume_metrics = metrics_of(cluster, "volume")
    # The gateway's calls arrive here too, counted by the service that served them.
    assert metric(volume_metrics, "grpc_server_handled_total", **calls, grpc_code="OK") >= 1
    assert metric(volume_metrics, "ember_tasks_handled_total", consumer="volume-host-a", outcome="ok") >= 1
    assert ("ember_task_queue_depth", (("consumer", "volume-host-a"), ("state", "pending"))) in volume_metrics
    scheduler = metrics_of(cluster, "scheduler")
    assert metric(scheduler, "ember_tasks_handled_total", consumer="scheduler", outcome="ok") >= 1
    assert metric(scheduler, "ember_task_handling_seconds_count", consumer="scheduler") >= 1

    backup = metrics_of(cluster, "backup")
    assert metric(backup, "ember_backup_bytes_total", verb="backup") >= len(data)
    assert ("ember_backup_bytes_per_second", (("verb", "backup"),)) in backup
    assert metric(backup, "ember_tasks_handled_total", consumer="backup", outcome="ok") >= 1


def test_ember_status_shows_services_hosts_pools_nats_and_database(cluster, db_backend):
    shown = ember(cluster, "status")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    for service in ("gateway", "scheduler", "volume", "backup"):
        assert any(line.startswith(service) and "serving" in line for line in out.splitlines()), out
    assert "host-a@file#default  [" in out and "%" in out
    assert "task queue volume-host-a: 0 pending" in out
    assert f"Database: {db_backend.name} " in out and "reachable" in out
    assert "All well." in out

    as_json = json.loads(ember(cluster, "status", "--json").stdout)
    assert as_json["problems"] == []
    assert {i["service"] for i in as_json["status"]["instances"]} == {"gateway", "scheduler", "volume", "backup"}
    assert all(i["metrics_address"] for i in as_json["status"]["instances"])

    refused = ember(cluster, "status", admin=False)
    assert refused.returncode == 1 and "PERMISSION_DENIED" in refused.stderr


def test_ember_status_names_a_dead_service_and_exits_1(cluster):
    backup = next(p for p in cluster.processes if p.name == "backup")
    backup.kill()
    shown = ember(cluster, "status")
    assert shown.returncode == 1
    assert "PROBLEM: backup" in shown.stdout and "unreachable" in shown.stdout
    assert "PROBLEM: no backup service is serving" in shown.stdout
