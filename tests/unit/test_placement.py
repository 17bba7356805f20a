"""The scheduler's filters and weighers, on hand-made pools."""

import pytest

from scheduler.placement import (
    Policy, Request, allocated_capacity_weights, availability_zone_filter, capabilities_filter, capacity_filter,
    free_capacity_weights, fresh_filter, health_filter, place, tried_filter,
)
from scheduler.pools import PoolState

NOW = 1_000_000.0


def pool(name="h@file#p", total=100.0, free=100.0, provisioned=0.0, reserved=0, ratio=20.0, thin=True,
         ts=NOW, zone="z1", capabilities=None, failed_at=0.0, failure=""):
    host = name.partition("@")[0]
    return PoolState(
        name, host, name.partition("@")[2].partition("#")[0], name.partition("#")[2], total, free, provisioned,
        reserved, ratio, thin, capabilities or {}, ts, zone, failed_at, failure,
    )


POLICY = Policy(down_after=60, failure_cooloff=30, now=NOW)


def test_thin_virtual_free_uses_the_over_subscription_ratio_and_reserve():
    p = pool(total=100, provisioned=50, reserved=10, ratio=2)
    # (100 - floor(10% of 100)) * 2 - 50
    assert p.virtual_free_gb == 130


def test_reserve_is_floored():
    assert pool(total=99, reserved=15).reserved_gb == 14


def test_thick_virtual_free_is_the_smaller_of_free_and_unprovisioned():
    p = pool(total=100, free=30, provisioned=50, reserved=10, thin=False)
    assert p.virtual_free_gb == 30
    p = pool(total=100, free=90, provisioned=50, reserved=10, thin=False)
    assert p.virtual_free_gb == 40


def test_capacity_filter_refuses_over_subscription_with_the_figures():
    p = pool(total=10, provisioned=9, ratio=1)
    assert capacity_filter(p, Request(1), POLICY) is None
    assert capacity_filter(p, Request(2), POLICY) == "2 GiB would over-subscribe it 1.1x (limit 1x)"


def test_capacity_filter_counts_the_reserve_on_thin_pools():
    p = pool(total=100, reserved=50, ratio=1)
    assert capacity_filter(p, Request(50), POLICY) is None
    assert capacity_filter(p, Request(51), POLICY) == "51 GiB would over-subscribe it 1.0x (limit 1x)"


def test_capacity_filter_refuses_a_thick_pool_without_free_space():
    p = pool(total=10, free=3, thin=False)
    assert capacity_filter(p, Request(3), POLICY) is None
    assert capacity_filter(p, Request(4), POLICY) == "4 GiB requested, 3 GiB free"


def test_thick_volume_types_need_thick_backends():
    thick = Request(1, extra_specs={"provisioning:type": "thick"})
    assert capacity_filter(pool(thin=False), thick, POLICY) is None
    assert capacity_filter(pool(thin=True), thick, POLICY) == "the volume type wants thick provisioning; this backend is thin"


def test_capacity_filter_refuses_a_pool_that_reports_nothing():
    assert capacity_filter(pool(total=0, free=0), Request(1), POLICY) == "reports no capacity"


def test_stale_pools_are_refused_with_their_age():
    assert fresh_filter(pool(ts=NOW - 59), Request(1), POLICY) is None
    assert fresh_filter(pool(ts=NOW - 61), Request(1), POLICY) == "no report for 61s (a pool is down after 60s)"


def test_a_backend_that_failed_recently_is_skipped_until_the_cooloff_ends():
    failed = pool(failed_at=NOW - 10, failure="disk gone")
    assert health_filter(failed, Request(1), POLICY) == (
        "a create failed on its backend 10s ago (disk gone); skipped for 30s"
    )
    assert health_filter(pool(failed_at=NOW - 31, failure="disk gone"), Request(1), POLICY) is None
    assert health_filter(pool(), Request(1), POLICY) is None


def test_a_tried_pool_rules_out_its_whole_backend():
    request = Request(1, tried=["h@fast#a"])
    assert tried_filter(pool("h@fast#b"), request, POLICY) == "a create already failed on this backend for this volume"
    assert tried_filter(pool("h@slow#a"), request, POLICY) is None
    assert tried_filter(pool("g@fast#a"), request, POLICY) is None


def test_zone_filter_follows_the_request_and_the_type():
    assert availability_zone_filter(pool(zone="z1"), Request(1, "z1"), POLICY) is None
    assert availability_zone_filter(pool(zone="z2"), Request(1, "z1"), POLICY) == "in zone 'z2', not 'z1'"
    assert availability_zone_filter(pool(zone="z2"), Request(1), POLICY) is None
    typed = Request(1, extra_specs={"RESKEY:availability_zones": "z1, z3"})
    assert availability_zone_filter(pool(zone="z3"), typed, POLICY) is None
    assert availability_zone_filter(pool(zone="z2"), typed, POLICY) == "in zone 'z2'; the volume type allows z1, z3"


def test_capabilities_filter_names_what_is_missing():
    ssd = pool(capabilities={"disk_type": "ssd", "iops": "5000"})
    assert capabilities_filter(ssd, Request(1, extra_specs={"disk_type": "ssd", "iops": ">= 1000"}), POLICY) is None
    why = capabilities_filter(ssd, Request(1, extra_specs={"capabilities:disk_type": "hdd", "replicas": "3"}), POLICY)
    assert why == "capabilities not met: disk_type 'hdd' (has 'ssd'); replicas '3' (not reported)"
    assert capabilities_filter(ssd, Request(1, extra_specs={"provisioning:type": "thin", "vendor:x": "1"}), POLICY) is None


def test_free_capacity_weigher_normalises_and_a_negative_multiplier_stacks():
    pools = [pool("a@f#p", provisioned=0), pool("b@f#p", provisioned=1000), pool("c@f#p", provisioned=500)]
    assert free_capacity_weights(pools, 1.0) == {"a@f#p": 1.0, "b@f#p": 0.0, "c@f#p": 0.5}
    spread = Policy(allocated_capacity_multiplier=0, now=NOW)
    stack = Policy(free_capacity_multiplier=-1, allocated_capacity_multiplier=0, now=NOW)
    assert place(pools, Request(1), spread).chosen.name == "a@f#p"
    assert place(pools, Request(1), stack).chosen.name == "b@f#p"


def test_allocated_capacity_weigher_prefers_the_least_allocated_by_default():
    small = pool("a@f#p", total=100, provisioned=10)
    big = pool("b@f#p", total=10000, provisioned=50)
    assert allocated_capacity_weights([small, big], -1.0) == {"a@f#p": -0.0, "b@f#p": -1.0}
    only_allocated = Policy(free_capacity_multiplier=0, allocated_capacity_multiplier=-1, now=NOW)
    assert place([small, big], Request(1), only_allocated).chosen.name == "a@f#p"
    # By default only free space counts, as in Cinder.
    assert place([small, big], Request(1), Policy(now=NOW)).chosen.name == "b@f#p"
    both = place([small, big], Request(1), Policy(allocated_capacity_multiplier=-2, now=NOW))
    assert both.weights == {"a@f#p": 0.0, "b@f#p": -1.0} and both.chosen.name == "a@f#p"


def test_equal_pools_are_chosen_by_name_so_placement_is_stable():
    assert place([pool("b@f#p"), pool("a@f#p")], Request(1), POLICY).chosen.name == "b@f#p"


def test_no_valid_backend_names_every_pool_and_why():
    decision = place([pool("a@f#p", total=1, ratio=1), pool("b@f#p", total=0, free=0)], Request(5), POLICY)
    assert decision.chosen is None
    assert decision.reason() == (
        "no valid backend: a@f#p: 5 GiB would over-subscribe it 5.0x (limit 1x); b@f#p: reports no capacity"
    )
    assert place([], Request(1), POLICY).reason() == "no storage pool has reported capacity"


@pytest.mark.parametrize("placed", [1, 5])
def test_just_placed_volumes_count_until_the_next_report(placed):
    p = pool(total=10, ratio=1)
    for _ in range(placed):
        p.consume(1)
    assert p.provisioned_capacity_gb == placed
    assert p.virtual_free_gb == 10 - placed
