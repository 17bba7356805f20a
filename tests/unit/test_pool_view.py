"""The scheduler's view: reports become pools, stale ones are never candidates,
and what it placed counts only until the pool's next report."""

import time

from scheduler.pool_view import PoolView


class FakeMirror:
    def __init__(self, entries):
        self.entries = entries


def report(name, ts, provisioned=0.0):
    host, _, rest = name.partition("@")
    return {
        "name": name, "host": host, "backend": "file", "pool": rest.partition("#")[2],
        "total_capacity_gb": 10, "free_capacity_gb": 10, "provisioned_capacity_gb": provisioned,
        "max_over_subscription_ratio": 1, "thin_provisioning_support": True, "ts": ts,
        "availability_zone": "z1", "failure": {"at": ts - 5, "reason": "boom"},
    }


def view_with(*reports, down_after=60.0):
    view = PoolView(down_after)
    view.mirror = FakeMirror({r["name"]: r for r in reports})
    return view


def test_stale_pools_are_listed_and_marked():
    now = time.time()
    view = view_with(report("a@file#p", now), report("b@file#p", now - 120))
    pools = view.all_pools()
    assert [p.name for p in pools] == ["a@file#p", "b@file#p"]
    assert [view.is_stale(p) for p in pools] == [False, True]


def test_placements_count_until_a_newer_report_arrives():
    now = time.time()
    view = view_with(report("a@file#p", now))
    view.record_placement(view.all_pools()[0], 4)
    view.record_placement(view.all_pools()[0], 3)
    assert view.all_pools()[0].provisioned_capacity_gb == 7
    view.mirror.entries["a@file#p"] = report("a@file#p", now + 1, provisioned=7)
    assert view.all_pools()[0].provisioned_capacity_gb == 7


def test_malformed_reports_are_skipped():
    view = view_with(report("a@file#p", time.time()))
    view.mirror.entries["junk"] = {"name": "junk"}
    assert [p.name for p in view.all_pools()] == ["a@file#p"]


def test_reports_carry_zone_and_last_failure():
    view = view_with(report("a@file#p", 100.0))
    pool = view.all_pools()[0]
    assert (pool.availability_zone, pool.failed_at, pool.failure) == ("z1", 95.0, "boom")
