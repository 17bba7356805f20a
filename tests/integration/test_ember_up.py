"""`ember up` and the CLI as a person uses them: start everything, make a
token, create/list/show/delete volumes, attach over NBD where nbdkit is (CI
requires it), then Ctrl-C stops every process."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import pytest

from ember import launcher
from tests import nbd

EMBER = [sys.executable, "-m", "cli"]


class Up:
    """A running `ember up`, the services it printed, and the CLI pointed at
    its gateway with a token that `ember token create` made."""

    def __init__(self, data_dir: pathlib.Path):
        self.data_dir = data_dir
        self.gateway = f"127.0.0.1:{launcher.free_port()}"
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.token = ""
        self.rest: str | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*EMBER, "up", "--data-dir", str(self.data_dir), "--nats-port", str(launcher.free_port()),
             "--listen", self.gateway],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Ember is up"):
                break
        assert self.lines and self.lines[-1].startswith("Ember is up"), "".join(self.lines)
        made = self.ember("token", "create", "--project", "demo")
        assert made.returncode == 0, made.stderr
        self.token = made.stdout.strip()

    def ember(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, EMBER_URL=self.gateway, EMBER_DATA_DIR=str(self.data_dir), EMBER_TOKEN=self.token)
        env.pop("EMBER_AUTH_SECRET", None)
        return subprocess.run([*EMBER, *args], capture_output=True, text=True, env=env, timeout=60)

    def stop(self) -> str:
        """Ctrl-C (once); what `ember up` printed after it was up."""
        if self.process is not None and self.rest is None:
            self.process.send_signal(signal.SIGINT)
            self.rest = self.process.communicate(timeout=60)[0]
        return self.rest or ""


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    running = Up(tmp_path_factory.mktemp("up"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_ember_up_runs_everything_and_the_cli_manages_volumes(up):
    assert [line.split()[0] for line in up.lines[:-1]] == ["scheduler", "volume", "backup", "api_gateway"]
    assert up.token.count(".") == 2 and "\n" not in up.token
    ember = up.ember

    created = ember("volume", "create", "--size", "1", "--name", "cli", "--wait", "--json")
    assert created.returncode == 0, created.stderr
    volume = json.loads(created.stdout)
    assert volume["status"] == "VOLUME_STATUS_AVAILABLE" and volume["name"] == "cli"

    listed = ember("volume", "list")
    assert volume["id"] in listed.stdout and "available" in listed.stdout
    shown = ember("volume", "show", volume["id"])
    assert "status" in shown.stdout and "available" in shown.stdout

    attached = ember("attach", volume["id"], "--instance", "vm-1", "--json")
    assert attached.returncode == 0, attached.stderr
    attachment = json.loads(attached.stdout)
    assert attachment["status"] == "ATTACHMENT_STATUS_ATTACHED"
    assert os.path.exists(attachment["connection_info"]["data"]["device_path"])
    second = ember("attach", volume["id"], "--instance", "vm-2")
    assert second.returncode == 1 and "FAILED_PRECONDITION" in second.stderr and "in-use" in second.stderr
    busy = ember("volume", "delete", volume["id"])
    assert busy.returncode == 1 and "VOLUME_ATTACHED" in busy.stderr
    assert attachment["id"] in ember("attachment", "list").stdout
    assert ember("detach", attachment["id"]).returncode == 0

    snap = ember("snapshot", "create", "--volume", volume["id"], "--name", "s1", "--wait", "--json")
    assert snap.returncode == 0, snap.stderr
    snapshot = json.loads(snap.stdout)
    assert snapshot["status"] == "SNAPSHOT_STATUS_AVAILABLE" and snapshot["name"] == "s1"
    assert snapshot["id"] in ember("snapshot", "list").stdout
    copy = ember("volume", "create", "--snapshot", snapshot["id"], "--wait", "--json")
    assert copy.returncode == 0, copy.stderr
    assert json.loads(copy.stdout)["source_snapshot_id"] == snapshot["id"]
    grown = ember("volume", "extend", volume["id"], "--size", "2", "--wait", "--json")
    assert grown.returncode == 0 and json.loads(grown.stdout)["size_gb"] == "2", grown.stderr
    refused = ember("volume", "delete", volume["id"])
    assert refused.returncode == 1 and "VOLUME_HAS_SNAPSHOTS" in refused.stderr
    cascade = ember("volume", "delete", volume["id"], "--cascade", "--wait")
    assert cascade.returncode == 0, cascade.stderr
    volume = json.loads(copy.stdout)

    bad = ember("volume", "create", "--size", "0")
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr and "size_gb" in bad.stderr

    deleted = ember("volume", "delete", volume["id"], "--wait")
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    assert "NOT_FOUND" in ember("volume", "show", volume["id"]).stderr


def test_the_cli_attaches_over_nbd(up):
    nbd.require_tools()
    created = up.ember("volume", "create", "--size", "1", "--name", "over-nbd", "--wait", "--json")
    assert created.returncode == 0, created.stderr
    volume = json.loads(created.stdout)
    psk_file = up.data_dir / "vm-1.psk"
    over_nbd = up.ember("attach", volume["id"], "--instance", "vm-1", "--transport", "nbd", "--psk-file", str(psk_file))
    assert over_nbd.returncode == 0, over_nbd.stderr
    uri = over_nbd.stdout.strip()
    assert uri.startswith("nbds://") and "@127.0.0.1:" in uri and f"tls-psk-file={psk_file}" in uri
    assert psk_file.stat().st_mode & 0o777 == 0o600
    assert nbd.answers(uri)
    (listed,) = json.loads(up.ember("attachment", "list", "--volume", volume["id"], "--json").stdout)
    assert up.ember("detach", listed["id"]).returncode == 0
    assert not nbd.answers(uri)
    assert up.ember("volume", "delete", volume["id"], "--wait").returncode == 0


def test_ctrl_c_stops_every_process(up):
    rest = up.stop()
    assert up.process.returncode == 0, rest
    assert "Ember stopped." in rest and "was killed" not in rest
    nats_pid = subprocess.run(["pgrep", "-f", str(up.data_dir / "nats-server.conf")], capture_output=True, text=True)
    assert nats_pid.stdout == ""


def test_ember_up_refuses_a_nats_port_already_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = subprocess.run(
            [*EMBER, "up", "--data-dir", str(tmp_path), "--nats-port", str(port), "--listen", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=60,
        )
    assert up.returncode == 1
    assert f"port {port} is already in use" in up.stderr and "Traceback" not in up.stderr
