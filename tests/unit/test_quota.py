"""Quota counters: reservations within limits, refusals that change nothing,
releases, and no limit at all."""

import pytest

from ember import quota
from ember.db import write_transaction
from ember.errors import ResourceExhausted

LIMITS = {"volumes": 2, "gigabytes": 10}


def reserve(deltas, limits=LIMITS, project="p"):
    with write_transaction():
        quota.reserve(project, deltas, limits)


def test_reservations_count_up_to_the_limit(database):
    reserve({"volumes": 1, "gigabytes": 4})
    reserve({"volumes": 1, "gigabytes": 6})
    assert quota.usage("p") == {"volumes": 2, "gigabytes": 10}


def test_a_refusal_changes_no_counter(database):
    reserve({"volumes": 1, "gigabytes": 4})
    with pytest.raises(ResourceExhausted) as refused:
        reserve({"volumes": 1, "gigabytes": 7})
    assert refused.value.metadata == {"quota": "gigabytes", "limit": "10", "used": "4", "requested": "7"}
    assert "4 of its 10 GiB quota in use" in refused.value.message
    assert quota.usage("p") == {"volumes": 1, "gigabytes": 4}


def test_first_reservation_over_the_limit_is_refused(database):
    with pytest.raises(ResourceExhausted) as refused:
        reserve({"volumes": 3})
    assert refused.value.metadata["used"] == "0"


def test_release_gives_back(database):
    reserve({"volumes": 2, "gigabytes": 10})
    with write_transaction():
        quota.release("p", {"volumes": 1, "gigabytes": 4})
    assert quota.usage("p") == {"volumes": 1, "gigabytes": 6}
    reserve({"volumes": 1, "gigabytes": 4})


def test_unlimited_and_projects_apart(database):
    for _ in range(5):
        reserve({"volumes": 1}, {"volumes": quota.UNLIMITED})
    reserve({"volumes": 2}, project="other")
    assert quota.usage("p") == {"volumes": 5}
    assert quota.usage("other") == {"volumes": 2}


def test_project_limits_override_defaults_and_per_type_resources_count(database):
    from ember.db import write_transaction as tx

    defaults = {"volumes": 10, "gigabytes": 100}
    with tx():
        quota.set_limits("p", {"volumes": 3, quota.per_type("volumes", "ssd-id"): 1})
    limits = quota.limits("p", defaults)
    assert limits == {"volumes": 3, "gigabytes": 100, "volumes:ssd-id": 1}
    assert quota.limits("other", defaults) == defaults
    reserve({"volumes": 1, "volumes:ssd-id": 1}, limits)
    with pytest.raises(ResourceExhausted) as refused:
        reserve({"volumes": 1, "volumes:ssd-id": 1}, limits)
    assert refused.value.metadata["quota"] == "volumes:ssd-id"
    with tx():
        quota.set_limits("p", {quota.per_type("volumes", "ssd-id"): quota.UNLIMITED})
    reserve({"volumes": 1, "volumes:ssd-id": 1}, quota.limits("p", defaults))
    assert quota.usage("p") == {"volumes": 2, "volumes:ssd-id": 2}
