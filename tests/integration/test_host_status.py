"""`ember status` over two storage hosts: every host with its zone, services
and advertised addresses; a killed host named DOWN with when it was last
heard from, and the command exits 1."""

import datetime
import json
import re
import time

from tests.harness import Cluster
from tests.integration.live_util import ember

# A host silent this long is down; capacity reports come every second.
DOWN_AFTER = "3"


def start(cluster: Cluster):
    """host-a (zone east) runs every service; host-b (zone west) a volume
    service alone. Returns host-b's process."""
    cluster.start_nats()
    cluster.start("scheduler")
    cluster.start("volume", EMBER_AVAILABILITY_ZONE="east")
    host_b = cluster.start("volume", name="volume-b", EMBER_HOST="host-b", EMBER_AVAILABILITY_ZONE="west",
                           EMBER_DATA_DIR=str(cluster.root / "b"))
    cluster.start("backup")
    cluster.start("api_gateway")
    return host_b


def status_until(cluster: Cluster, done, patience: float = 20.0):
    """`ember status --json` until done(answer) holds."""
    deadline = time.monotonic() + patience
    while True:
        shown = ember(cluster, "status", "--json")
        answer = json.loads(shown.stdout)
        if done(answer) or time.monotonic() > deadline:
            return shown, answer
        time.sleep(0.5)


def hosts_of(answer: dict) -> dict[str, dict]:
    return {h["name"]: h for h in answer["status"].get("hosts", [])}


def test_ember_status_names_a_killed_storage_host_down_with_its_zone_and_last_word(tmp_path, db_backend):
    cluster = Cluster(tmp_path, db_backend, EMBER_SERVICE_DOWN_AFTER=DOWN_AFTER)
    try:
        host_b = start(cluster)
        shown, answer = status_until(cluster, lambda a: not a["problems"] and len(hosts_of(a)) == 2)
        assert shown.returncode == 0, (answer["problems"], shown.stderr)
        hosts = hosts_of(answer)
        assert [h["state"] for h in hosts.values()] == ["HOST_STATE_UP", "HOST_STATE_UP"]
        assert hosts["host-a"]["availability_zones"] == ["east"] and hosts["host-b"]["availability_zones"] == ["west"]
        assert sorted(s["service"] for s in hosts["host-a"]["services"]) == ["backup", "gateway", "scheduler", "volume"]
        registered = {i["instance_id"]: i["address"] for i in answer["status"]["instances"]}
        for host in hosts.values():
            for service in host["services"]:
                assert service["address"] == registered[service["instance_id"]], service
        volume_a = next(s for s in hosts["host-a"]["services"] if s["service"] == "volume")
        assert volume_a["nbd_address"] == "127.0.0.1" and volume_a["metrics_address"].startswith("127.0.0.1:")

        killed_at = time.time()
        host_b.kill()
        shown, answer = status_until(cluster, lambda a: hosts_of(a)["host-b"]["state"] == "HOST_STATE_DOWN")
        assert shown.returncode == 1
        hosts = hosts_of(answer)
        assert hosts["host-b"]["state"] == "HOST_STATE_DOWN" and hosts["host-a"]["state"] == "HOST_STATE_UP"
        heard = datetime.datetime.fromisoformat(hosts["host-b"]["last_heard"].replace("Z", "+00:00")).timestamp()
        assert killed_at - 3 <= heard <= killed_at + 0.5, (heard, killed_at)
        down = [p for p in answer["problems"] if p.startswith("host ")]
        assert len(down) == 1 and down[0].startswith("host host-b (zone west) is DOWN: nothing heard from it since")
        assert f"volume {hosts['host-b']['services'][0]['address']}" in down[0]

        shown = ember(cluster, "status")
        assert shown.returncode == 1
        rows = shown.stdout.split("\nHosts")[1].split("\n\n")[0].splitlines()[2:]
        host_b = next(row.rstrip() for row in rows if row.startswith("host-b "))
        assert re.search(r"west +volume +127.0.0.1:\d+, metrics 127.0.0.1:\d+, nbd 127.0.0.1 +"
                         r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \([\d.]+s ago\) +DOWN$", host_b), host_b
        assert any(row.startswith("host-a ") and row.rstrip().endswith("up") for row in rows), rows
        assert any(re.search(rf"\bvolume +{volume_a['address']}, metrics", row) for row in rows), rows
        assert "PROBLEM: host host-b (zone west) is DOWN" in shown.stdout
    finally:
        cluster.stop()
