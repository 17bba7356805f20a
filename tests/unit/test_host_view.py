"""The hosts `ember status` lists: from registry heartbeats and capacity
reports, each with its zone, services, last word and whether it is down."""

from api_gateway.host_view import hosts
from cli.status import problems
from ember.v1 import status_pb2

NOW = 1_700_000_000.0
TTL, DOWN_AFTER = 15.0, 60.0


def entry(service: str, host: str, address: str, ts: float, **extra: str) -> dict:
    return {"service": service, "instance": f"{service}-{address}", "host": host, "address": address,
            "metrics": address.replace(":5", ":9"), "ts": ts, **extra}


def report(host: str, zone: str, pool: str, ts: float) -> dict:
    return {"name": f"{host}@file#{pool}", "host": host, "availability_zone": zone, "ts": ts}


REGISTRY = [
    entry("gateway", "ctl-1", "10.0.0.1:50", NOW - 2),
    entry("scheduler", "ctl-1", "10.0.0.1:51", NOW - 4),
    entry("volume", "store-1", "10.0.0.2:50", NOW - 3, nbd="10.0.0.2"),
    # store-2's volume service was killed 90 s ago: its last entry stays in the mirror.
    entry("volume", "store-2", "10.0.0.3:50", NOW - 92, nbd="10.0.0.3"),
    # An instance of store-1 that was replaced long ago.
    entry("volume", "store-1", "10.0.0.2:40", NOW - 300),
]
REPORTS = [
    report("store-1", "east", "a", NOW - 1), report("store-1", "east", "b", NOW - 1),
    report("store-2", "west", "a", NOW - 90),
    # A storage host whose services left the registry for good; its reports stay.
    report("store-3", "west", "a", NOW - 4000),
]


def by_name() -> dict[str, status_pb2.Host]:
    return {h.name: h for h in hosts(REGISTRY, REPORTS, NOW, TTL, DOWN_AFTER)}


def test_every_host_is_listed_with_its_zone_services_and_last_word():
    found = by_name()
    assert list(found) == ["ctl-1", "store-1", "store-2", "store-3"]
    ctl = found["ctl-1"]
    assert ctl.state == status_pb2.HOST_STATE_UP and list(ctl.availability_zones) == [] and list(ctl.pools) == []
    assert [(s.service, s.address, s.metrics_address) for s in ctl.services] == [
        ("gateway", "10.0.0.1:50", "10.0.0.1:90"), ("scheduler", "10.0.0.1:51", "10.0.0.1:91")]
    assert ctl.last_heard.ToNanoseconds() == int((NOW - 2) * 1e9)

    store = found["store-1"]
    assert store.state == status_pb2.HOST_STATE_UP
    assert list(store.availability_zones) == ["east"] and list(store.pools) == ["store-1@file#a", "store-1@file#b"]
    # The newest word is a capacity report; the replaced instance is not listed.
    assert store.last_heard.ToNanoseconds() == int((NOW - 1) * 1e9)
    assert [(s.address, s.nbd_address) for s in store.services] == [("10.0.0.2:50", "10.0.0.2")]


def test_a_host_silent_past_the_down_window_is_down_with_what_it_last_ran():
    found = by_name()
    dead = found["store-2"]
    assert dead.state == status_pb2.HOST_STATE_DOWN
    assert list(dead.availability_zones) == ["west"]
    assert dead.last_heard.ToNanoseconds() == int((NOW - 90) * 1e9)
    assert [(s.service, s.address, s.nbd_address) for s in dead.services] == [("volume", "10.0.0.3:50", "10.0.0.3")]
    gone = found["store-3"]
    assert gone.state == status_pb2.HOST_STATE_DOWN and list(gone.services) == []


def test_nothing_ages_while_no_word_arrives_at_all():
    """NATS silent for two minutes: the newest stamp is the clock, not now."""
    later = hosts(REGISTRY, REPORTS, NOW + 120, TTL, DOWN_AFTER)
    assert {h.name for h in later if h.state == status_pb2.HOST_STATE_DOWN} == {"store-2", "store-3"}


def test_a_service_that_names_no_host_goes_under_its_address():
    old = dict(entry("gateway", "", "10.0.0.9:50", NOW), host="")
    assert [h.name for h in hosts([old], [], NOW, TTL, DOWN_AFTER)] == ["10.0.0.9"]


def test_ember_status_names_each_down_host_as_a_problem():
    status = status_pb2.Status(hosts=hosts(REGISTRY, REPORTS, NOW, TTL, DOWN_AFTER))
    status.time.FromNanoseconds(int(NOW * 1e9))
    status.nats.connected = status.database.reachable = True
    down = [p for p in problems(status, []) if p.startswith("host ")]
    assert len(down) == 2
    assert down[0].startswith("host store-2 (zone west) is DOWN: nothing heard from it since 2023-11-14 22:11:50 UTC"
                              " (90.0s ago); it ran volume 10.0.0.3:50"), down[0]
    assert "nbd 10.0.0.3" in down[0]
    assert down[1].startswith("host store-3 (zone west) is DOWN") and "(66m ago); it ran no service" in down[1]
