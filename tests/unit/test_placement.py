"""The scheduler's filters and weigher, on hand-made pools."""

import pytest

from scheduler.placement import Request, capacity_filter, free_capacity_weights, place
from scheduler.pools import PoolState


def pool(name="h@file#p", total=100.0, free=100.0, provisioned=0.0, reserved=0, ratio=20.0, thin=True, ts=1.0):
    host = name.partition("@")[0]
    return PoolState(name, host, "file", name.partition("#")[2], total, free, provisioned, reserved, ratio, thin, {}, ts)


def test_thin_virtual_free_uses_the_over_subscription_ratio_and_reserve():
    p = pool(total=100, provisioned=50, reserved=10, ratio=2)
    # (100 - floor(10% of 100)) * 2 - 50
    assert p.virtual_free_gb == 130


def test_thick_virtual_free_is_the_smaller_of_free_and_unprovisioned():
    p = pool(total=100, free=30, provisioned=50, reserved=10, thin=False)
    assert p.virtual_free_gb == 30
    p = pool(total=100, free=90, provisioned=50, reserved=10, thin=False)
    assert p.virtual_free_gb == 40


def test_capacity_filter_refuses_over_subscription_with_the_figures():
    p = pool(total=10, provisioned=9, ratio=1)
    assert capacity_filter(p, Request(1)) is None
    why = capacity_filter(p, Request(2))
    assert why == "2 GiB would over-subscribe it 1.1x (limit 1x)"


def test_capacity_filter_refuses_a_thick_pool_without_free_space():
    p = pool(total=10, free=3, thin=False)
    assert capacity_filter(p, Request(3)) is None
    assert capacity_filter(p, Request(4)) == "4 GiB requested, 3 GiB free"


def test_capacity_filter_refuses_a_pool_that_reports_nothing():
    assert capacity_filter(pool(total=0, free=0), Request(1)) == "reports no capacity"


def test_weigher_normalises_and_a_negative_multiplier_stacks():
    pools = [pool("a@f#p", provisioned=0), pool("b@f#p", provisioned=1000), pool("c@f#p", provisioned=500)]
    weights = free_capacity_weights(pools, 1.0)
    assert weights == {"a@f#p": 1.0, "b@f#p": 0.0, "c@f#p": 0.5}
    assert place(pools, Request(1)).chosen.name == "a@f#p"
    assert place(pools, Request(1), multiplier=-1.0).chosen.name == "b@f#p"


def test_equal_pools_are_chosen_by_name_so_placement_is_stable():
    pools = [pool("b@f#p"), pool("a@f#p")]
    assert place(pools, Request(1)).chosen.name == "b@f#p"


def test_tried_pools_are_never_chosen_again():
    pools = [pool("a@f#p", provisioned=0), pool("b@f#p", provisioned=500)]
    decision = place(pools, Request(1, tried=["a@f#p"]))
    assert decision.chosen.name == "b@f#p"
    assert decision.rejected == {"a@f#p": "already tried for this volume"}


def test_no_valid_backend_names_every_pool_and_why():
    decision = place([pool("a@f#p", total=1, ratio=1), pool("b@f#p", total=0, free=0)], Request(5))
    assert decision.chosen is None
    assert decision.reason() == (
        "no valid backend: a@f#p: 5 GiB would over-subscribe it 5.0x (limit 1x); b@f#p: reports no capacity"
    )
    assert place([], Request(1)).reason() == "no storage pool has reported capacity"


@pytest.mark.parametrize("placed", [1, 5])
def test_just_placed_volumes_count_until_the_next_report(placed):
    p = pool(total=10, ratio=1)
    for _ in range(placed):
        p.consume(1)
    assert p.provisioned_capacity_gb == placed
    assert p.virtual_free_gb == 10 - placed
