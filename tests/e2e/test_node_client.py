"""A client in a second language: examples/node (Node.js, @grpc/grpc-js and
@grpc/proto-loader on protos/) creates, attaches, backs up and restores
against a live Ember, and what it did is there when Python looks."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from ember.v1 import backup_pb2, volume_pb2
from tests import prerequisites

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "node"


@pytest.fixture(scope="module")
def node():
    found = shutil.which("node"), shutil.which("npm")
    if None in found:
        prerequisites.missing("Node.js is not installed here (apt-get install nodejs npm)", "EMBER_REQUIRE_NODE")
    if not (EXAMPLE / "node_modules" / "@grpc" / "grpc-js").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, check=True, timeout=600,
                       capture_output=True)
    return found[0]


def test_the_node_example_creates_attaches_backs_up_and_restores(cluster, node):
    token = cluster.token("node-example")
    run = subprocess.run(
        [node, str(EXAMPLE / "ember.js")], capture_output=True, text=True, timeout=300,
        env={**os.environ, "EMBER_URL": cluster.gateway, "EMBER_TOKEN": token, "EMBER_HOST": "host-a"},
    )
    assert run.returncode == 0, run.stderr
    did = json.loads(run.stdout.strip().splitlines()[-1])
    assert did["restored_sha256"] == did["written_sha256"]
    assert (did["backup_status"], did["restored_status"]) == ("BACKUP_STATUS_AVAILABLE", "VOLUME_STATUS_AVAILABLE")

    client = cluster.client("node-example")
    listed = {v.id: v for v in client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes}
    assert {listed[did["volume"]].name, listed[did["restored"]].name} == {"from-node", "restored-by-node"}
    assert listed[did["restored"]].status == volume_pb2.VOLUME_STATUS_AVAILABLE
    backup = client.call(client.backups.GetBackup, backup_pb2.GetBackupRequest(id=did["backup"]))
    assert backup.status == backup_pb2.BACKUP_STATUS_AVAILABLE and backup.volume_id == did["volume"]
    restored_file = cluster.root / "volumes" / "file" / "default" / f"volume-{did['restored']}"
    with open(restored_file, "rb") as f:
        assert hashlib.sha256(f.read(1024 * 1024)).hexdigest() == did["written_sha256"]


def test_the_node_example_reports_a_bad_token_with_its_grpc_status(cluster, node):
    run = subprocess.run(
        [node, str(EXAMPLE / "ember.js")], capture_output=True, text=True, timeout=120,
        env={**os.environ, "EMBER_URL": cluster.gateway, "EMBER_TOKEN": "not-a-token", "EMBER_HOST": "host-a"},
    )
    assert run.returncode == 1
    assert "gRPC status 16" in run.stderr and "token" in run.stderr, run.stderr
