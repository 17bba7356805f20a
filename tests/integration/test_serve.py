"""`ember serve SERVICE --config FILE`: one TOML file holds the settings of
every service on a host; each service started from it serves, and stops
with exit status 0 on SIGTERM."""

import json

from ember import config, launcher
from ember.v1 import volume_pb2
from tests.harness import Cluster

# Top-level keys for every service, a table for each; typed as TOML types them.
HOST = """\
data_dir = {data_dir}
database_url = {database_url}
auth_secret = {secret}
nats_url = [{nats_url}]
listen = "127.0.0.1:0"
registry_ttl = "6s"
task_ack_wait = 3
tls_ca = {tls_ca}
tls_cert = {tls_cert}
tls_key = {tls_key}

[gateway]
{gateway_nats}
# Tests run side by side: not the gateway's own fixed port.
listen = "127.0.0.1:0"
call_timeout = "20s"

[scheduler]
{scheduler_nats}
scheduler_max_attempts = 2

[volume]
{volume_nats}
host = "host-a"
pools = ["gold"]
pool_capacity_gb = 10
report_interval = 1

[backup]
{backup_nats}
backup_tasks = 2
"""


def nats_user(cluster: Cluster, service: str, host: str) -> str:
    """The lines of a service's table that give it its own NATS user."""
    settings = cluster.nats_access.settings(cluster.nats_user(service, host))
    return "\n".join(f"{name} = {json.dumps(value)}" for name, value in settings.items())


def test_each_service_runs_from_one_host_file_and_stops_cleanly(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        cluster.start_nats()
        path = tmp_path / "host.toml"
        values = {"data_dir": str(tmp_path), "database_url": cluster.database_url, "secret": cluster.secret,
                  "nats_url": cluster.nats.address, "tls_ca": str(cluster.tls.ca), "tls_cert": str(cluster.tls.cert),
                  "tls_key": str(cluster.tls.key)}
        path.write_text(HOST.format(**{name: json.dumps(value) for name, value in values.items()}, **{
            f"{service}_nats": nats_user(cluster, service, "host-a" if service == "volume" else config.default_host())
            for service in ("gateway", "scheduler", "volume", "backup")}))
        for service in ("scheduler", "volume", "backup", "gateway"):
            process = launcher.start_service("cli", {}, tmp_path / "logs", name=service,
                                             args=["serve", service, "--config", str(path)])
            cluster.processes.append(process)
        cluster.gateway = cluster.processes[-1].address

        client = cluster.client()
        try:
            volume = client.create_available(1)
        finally:
            client.close()
        assert volume.status == volume_pb2.VOLUME_STATUS_AVAILABLE
        # Placed by the [volume] table's host and pools.
        assert volume.host == "host-a@file#gold"

        stopped = {process.name: process.stop() for process in reversed(cluster.processes)}
        assert stopped == dict.fromkeys(("gateway", "backup", "volume", "scheduler"), 0), cluster.logs()
    finally:
        cluster.stop()
