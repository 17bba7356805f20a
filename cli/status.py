"""`ember status`: the operator's view of a deployment (services, hosts and
which are down, pools with capacity bars, NATS, the database and failed
exports); exits 1 when degraded."""

from __future__ import annotations

import datetime
import json

from cli.client import as_dict, gateway, status_name, table
from ember.v1 import scheduler_pb2, scheduler_pb2_grpc, status_pb2, status_pb2_grpc

BAR = 20
# A deployment needs one of each to serve every workflow.
REQUIRED = ("gateway", "scheduler", "volume", "backup")


def bar(used: float, total: float) -> str:
    share = min(max(used / total, 0.0), 1.0) if total > 0 else 0.0
    filled = round(share * BAR)
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {share * 100:3.0f}%"


def _ms(duration) -> str:
    return f"{duration.ToNanoseconds() / 1e6:.1f} ms"


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024


def _health(instance) -> str:
    return status_name(status_pb2.InstanceHealth, instance.health).replace("_", "-")


def _ago(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 120:
        return f"{seconds:.1f}s ago"
    minutes, hours = int(seconds // 60), int(seconds // 3600)
    if hours < 2:
        return f"{minutes}m ago"
    return f"{hours}h ago" if hours < 48 else f"{hours // 24}d ago"


def _heard(status: status_pb2.Status, host) -> str:
    """When the host was last heard from, and how long before this status."""
    at = host.last_heard.ToDatetime(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    age = (status.time.ToNanoseconds() - host.last_heard.ToNanoseconds()) / 1e9
    return f"{at} ({_ago(age)})"


def _addresses(service) -> str:
    extra = [f"metrics {service.metrics_address}"] if service.metrics_address else []
    extra += [f"nbd {service.nbd_address}"] if service.nbd_address else []
    return ", ".join([service.address, *extra])


def _host_rows(status: status_pb2.Status, host) -> list[dict]:
    """One row per service of the host; the host's own columns on the first."""
    first = {"host": host.name, "zone": ", ".join(host.availability_zones) or "-", "last heard": _heard(status, host),
             "state": "DOWN" if host.state == status_pb2.HOST_STATE_DOWN else "up"}
    rest = dict.fromkeys(first, "")
    services = [{"service": s.service, "addresses": _addresses(s)} for s in host.services]
    return [{**(rest if n else first), **row} for n, row in enumerate(services or [{"service": "-", "addresses": "-"}])]


def _down(status: status_pb2.Status, host) -> str:
    ran = "; ".join(f"{s.service} {_addresses(s)}" for s in host.services) or "no service left in the registry"
    return (f"host {host.name} (zone {', '.join(host.availability_zones) or '-'}) is DOWN: nothing heard from it "
            f"since {_heard(status, host)}; it ran {ran}")


def problems(status: status_pb2.Status, pools) -> list[str]:
    """What an operator must look at; empty when all is well."""
    found = [f"{i.service} {i.instance_id} at {i.address} is {_health(i)}: {i.detail}"
             for i in status.instances if i.health != status_pb2.INSTANCE_HEALTH_SERVING]
    running = {i.service for i in status.instances if i.health == status_pb2.INSTANCE_HEALTH_SERVING}
    found += [f"no {service} service is serving" for service in REQUIRED if service not in running]
    if not status.nats.connected or status.nats.error:
        found.append(f"NATS: {status.nats.error or 'not connected'}")
    if not status.database.reachable:
        found.append(f"database: {status.database.error}")
    found += [f"pool {p.name} is stale (no capacity report within the service-down window)" for p in pools if p.stale]
    found += [_down(status, h) for h in status.hosts if h.state == status_pb2.HOST_STATE_DOWN]
    found += [f"the export of attachment {e.attachment_id} (volume {e.volume_id}) on {e.host} fails: {e.reason}"
              for e in status.failed_exports]
    return found


def render(status: status_pb2.Status, pools) -> None:
    print("Services")
    table([{"service": i.service, "host": i.host or "-", "instance": i.instance_id, "address": i.address,
            "metrics": i.metrics_address or "-", "health": _health(i),
            "heartbeat": f"{i.heartbeat_age.ToNanoseconds() / 1e9:.1f}s ago"} for i in status.instances],
          ("service", "host", "instance", "address", "metrics", "health", "heartbeat"))
    print("\nHosts (DOWN: nothing heard within the service-down window)")
    table([row for h in status.hosts for row in _host_rows(status, h)],
          ("host", "zone", "service", "addresses", "last heard", "state"))
    print("\nPools (physical use; provisioned is what volumes were promised)")
    table([{"pool": p.name, "used": bar(p.total_capacity_gb - p.free_capacity_gb, p.total_capacity_gb),
            "free_gib": f"{p.free_capacity_gb:.1f}", "total_gib": f"{p.total_capacity_gb:.1f}",
            "provisioned_gib": f"{p.provisioned_capacity_gb:.1f}",
            "state": "stale" if p.stale else ("cooling off" if p.recent_failure else "up")} for p in pools],
          ("pool", "used", "free_gib", "total_gib", "provisioned_gib", "state"))
    nats = status.nats
    print(f"\nNATS: {'connected to ' + nats.server_url if nats.connected else 'NOT connected'}"
          f" (nats-server {nats.server_version}), round trip {_ms(nats.rtt)}"
          + (f"; error: {nats.error}" if nats.error else ""))
    for stream in nats.streams:
        print(f"  stream {stream.name}: {stream.messages} messages, {_size(stream.bytes)},"
              f" {stream.replicas} replica{'s' if stream.replicas != 1 else ''}")
        for c in stream.consumers:
            print(f"    task queue {c.name}: {c.pending} pending, {c.in_flight} in flight,"
                  f" {c.redelivered} redelivered")
    db = status.database
    state = f"reachable, a query takes {_ms(db.latency)}" if db.reachable else f"UNREACHABLE: {db.error}"
    print(f"\nDatabase: {db.backend} {db.url}: {state}")
    if status.failed_exports:
        print("\nFailed exports (their storage hosts keep retrying)")
        table([{"attachment": e.attachment_id, "volume": e.volume_id, "instance": e.instance_id, "host": e.host,
                "since": e.since.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"), "reason": e.reason}
               for e in status.failed_exports], ("attachment", "volume", "instance", "host", "since", "reason"))


def run(args) -> None:
    with gateway() as (channel, metadata):
        status = status_pb2_grpc.StatusServiceStub(channel).GetStatus(
            status_pb2.GetStatusRequest(), metadata=metadata, timeout=30)
        pools = list(scheduler_pb2_grpc.SchedulerServiceStub(channel).ListPools(
            scheduler_pb2.ListPoolsRequest(), metadata=metadata, timeout=30).pools)
    found = problems(status, pools)
    if args.json:
        print(json.dumps({"status": as_dict(status), "pools": [as_dict(p) for p in pools], "problems": found},
                         indent=2))
    else:
        render(status, pools)
        print("\n" + ("\n".join(f"PROBLEM: {p}" for p in found) if found else "All well."))
    if found:
        raise SystemExit(1)


def add_parser(commands) -> None:
    status = commands.add_parser(
        "status", help="services, hosts (and which are down), pools, NATS and database health (admin token; exit 1 when degraded)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=run)
