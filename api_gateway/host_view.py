"""Every host Ember knows of, for `ember status`: hosts from the registry's
heartbeats and the pools' capacity reports, with their services and whether they are down."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from google.protobuf import timestamp_pb2

from ember import addresses
from ember.v1 import status_pb2


def host_of(entry: dict) -> str:
    """The host a registry entry names; an entry from a service too old to
    name one goes under the host part of its address."""
    return entry.get("host") or addresses.split(entry.get("address", ""))[0]


def _stamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _service(entry: dict) -> status_pb2.HostService:
    return status_pb2.HostService(
        service=entry.get("service", ""), instance_id=entry.get("instance", ""), address=entry.get("address", ""),
        metrics_address=entry.get("metrics", ""), nbd_address=entry.get("nbd", ""),
    )


def hosts(registry: Iterable[dict], reports: Iterable[dict], now: float, registry_ttl: float,
          down_after: float) -> list[status_pb2.Host]:
    """`registry`: every registry entry the gateway's mirror holds, expired
    ones included (a killed service's last entry stays there: expiry is not
    announced to watchers); `reports`: every pool's last capacity report
    (kept in the bucket for good).
    A host is down when nothing of it is stamped within `down_after` of
    `now`, or of the newest stamp of all if that is earlier: while no
    heartbeat arrives at all, NATS is what is wrong, not every host."""
    registry, reports = list(registry), list(reports)
    entries, pools = defaultdict(list), defaultdict(list)
    for entry in registry:
        entries[host_of(entry)].append(entry)
    for report in reports:
        if report.get("host"):
            pools[report["host"]].append(report)
    stamps = [float(r.get("ts", 0)) for r in (*registry, *reports)]
    now = min(now, max(stamps, default=now))
    found = []
    for name in sorted(entries.keys() | pools.keys()):
        heard = max(float(r.get("ts", 0)) for r in (*entries[name], *pools[name]))
        # Instances that heartbeat up to the host's last word: a restarted
        # service's old instance, silent since, is not among them.
        alive = sorted((e for e in entries[name] if float(e.get("ts", 0)) >= heard - registry_ttl),
                       key=lambda e: (e.get("service", ""), e.get("address", "")))
        found.append(status_pb2.Host(
            name=name,
            availability_zones=sorted({p["availability_zone"] for p in pools[name] if p.get("availability_zone")}),
            pools=sorted(p.get("name", "") for p in pools[name]),
            services=[_service(e) for e in alive],
            last_heard=_stamp(heard),
            state=status_pb2.HOST_STATE_UP if now - heard <= down_after else status_pb2.HOST_STATE_DOWN,
        ))
    return found
