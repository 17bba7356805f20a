"""EMBER_URL naming several gateways: the CLI, and the Python and Node
examples, go on past a gateway that is stopped (or that never answers a
connection) to one that runs, and what they ask for is done once; with no
gateway left, the CLI's error names every one it tried."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
import trustme

from ember import launcher
from ember.v1 import volume_pb2
from tests.e2e.test_node_client import node  # noqa: F401 (a fixture)
from tests.integration.live_util import EMBER

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def gateways(cluster) -> tuple[str, str]:
    """The cluster's own gateway, stopped, and a second one, running."""
    first = next(p for p in cluster.processes if p.name == "api_gateway")
    second = cluster.start("api_gateway", name="gateway-2", EMBER_LISTEN="127.0.0.1:0")
    first.stop()
    return first.address, second.address


@pytest.fixture
def silent():
    """A gateway host that takes connections and never answers, as one cut
    off the network never completes connecting."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        yield "127.0.0.1:%d" % listening.getsockname()[1]


def run(cluster, project: str, url: str, *args: str, command=EMBER, timeout: float = 90, **extra: str):
    env = dict(os.environ, EMBER_URL=url, EMBER_TOKEN=cluster.token(project), **extra)
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=timeout)


def volumes_of(cluster, project: str) -> list[volume_pb2.Volume]:
    client = cluster.client(project)
    try:
        return list(client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1000)).volumes)
    finally:
        client.close()


def volume_files(cluster, volume_id: str) -> list[pathlib.Path]:
    return list(cluster.root.rglob(f"volume-{volume_id}"))


def test_the_cli_creates_lists_and_deletes_through_the_gateway_that_runs(cluster, gateways):
    url = ",".join(gateways)
    created = run(cluster, "gw-cli", url, "volume", "create", "--size", "1", "--name", "via-second", "--wait", "--json")
    assert created.returncode == 0, created.stderr
    volume_id = json.loads(created.stdout)["id"]
    assert [(v.id, v.name) for v in volumes_of(cluster, "gw-cli")] == [(volume_id, "via-second")]
    assert len(volume_files(cluster, volume_id)) == 1

    listed = run(cluster, "gw-cli", url, "volume", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [v["id"] for v in json.loads(listed.stdout)] == [volume_id]

    deleted = run(cluster, "gw-cli", url, "volume", "delete", volume_id, "--wait")
    assert deleted.returncode == 0 and f"{volume_id} deleted" in deleted.stdout, deleted.stderr
    assert volumes_of(cluster, "gw-cli") == [] and volume_files(cluster, volume_id) == []


def test_a_gateway_that_never_answers_is_passed_within_seconds(cluster, gateways, silent):
    started = time.monotonic()
    listed = run(cluster, "gw-silent", f"{silent},{gateways[1]}", "volume", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
    assert time.monotonic() - started < 20


def test_a_gateway_named_by_host_name_serving_tls(cluster, gateways, tmp_path):
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    cert, key, bundle = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.private_key_pem.write_to_path(key)
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    ca.cert_pem.write_to_path(bundle)
    env = cluster.service_env("api_gateway", EMBER_LISTEN="127.0.0.1:0", EMBER_PUBLIC_TLS_CERT=str(cert),
                              EMBER_PUBLIC_TLS_KEY=str(key))
    tls = launcher.start_service("api_gateway", env, cluster.data_dir / "logs", name="gateway-tls")
    try:
        url = f"{gateways[0]},localhost:{tls.address.rpartition(':')[2]}"
        listed = run(cluster, "gw-tls", url, "volume", "list", "--json", EMBER_TLS_CA=str(bundle))
        assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stderr
    finally:
        tls.stop()


def test_with_no_gateway_left_the_error_names_every_one(cluster, gateways, silent):
    url = f"{gateways[0]},{silent}"
    failed = run(cluster, "gw-none", url, "volume", "create", "--size", "1")
    assert failed.returncode == 1
    assert "UNAVAILABLE" in failed.stderr and f"tried EMBER_URL={gateways[0]}, {silent}" in failed.stderr
    assert failed.stdout == ""
    assert volumes_of(cluster, "gw-none") == []


def test_the_python_example_goes_on_to_the_gateway_that_runs(cluster, gateways):
    # `localhost` too: the example looks host names up for gRPC's `ipv4:` list.
    url = f"{gateways[0]},localhost:{gateways[1].rpartition(':')[2]}"
    example = run(cluster, "gw-python", url, command=[sys.executable, str(EXAMPLES / "python" / "ember_client.py")])
    assert example.returncode == 0, example.stderr
    did = json.loads(example.stdout.strip().splitlines()[-1])
    assert (did["status"], did["listed"], did["deleted"]) == ("VOLUME_STATUS_AVAILABLE", 1, True)
    assert volumes_of(cluster, "gw-python") == [] and volume_files(cluster, did["volume"]) == []


def test_the_node_example_goes_on_to_the_gateway_that_runs(cluster, gateways, node):  # noqa: F811
    env = {"EMBER_HOST": "host-a"}
    example = subprocess.run(
        [node, str(EXAMPLES / "node" / "ember.js")], capture_output=True, text=True, timeout=300,
        env={**os.environ, **env, "EMBER_URL": ",".join(gateways), "EMBER_TOKEN": cluster.token("gw-node")},
    )
    assert example.returncode == 0, example.stderr
    did = json.loads(example.stdout.strip().splitlines()[-1])
    assert did["restored_sha256"] == did["written_sha256"]
    listed = volumes_of(cluster, "gw-node")
    assert sorted(v.name for v in listed) == ["from-node", "restored-by-node"]
    assert {v.id for v in listed} == {did["volume"], did["restored"]}
