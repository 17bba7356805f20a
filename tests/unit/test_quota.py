"""Quota counters: reservations within limits, refusals that change nothing,
releases, no limit at all, and usage rows that concurrent transactions made."""

import pytest

from ember import quota
from ember.db import QuotaUsage, write_transaction
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


@pytest.mark.parametrize("made_by_rival", [0, 1])
def test_a_usage_row_a_concurrent_transaction_made_or_changed_is_counted_not_refused(database, monkeypatch,
                                                                                     made_by_rival):
    """Under PostgreSQL our UPDATE may find no row (or one over the limit)
    that another transaction commits a moment later, before our SELECT."""
    real, rivals = quota._add, []

    def add_racing_a_rival(project, resource, delta, limit=quota.UNLIMITED):
        if not rivals:
            rivals.append(resource)
            QuotaUsage.insert(project_id=project, resource=resource, in_use=made_by_rival).execute()
            return False
        return real(project, resource, delta, limit)

    monkeypatch.setattr(quota, "_add", add_racing_a_rival)
    reserve({"volumes": 1})
    assert quota.usage("p") == {"volumes": made_by_rival + 1}
