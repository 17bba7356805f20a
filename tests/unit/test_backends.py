"""The backends setting: defaults from the single-backend flags, and clear
refusals of what cannot work."""

import json

import pytest

from ember.config import Settings
from volume import backends


def settings(**fields) -> Settings:
    return Settings(pools="p1, p2", pool_capacity_gb=50, reserved_percentage=5, **fields)


def test_default_is_one_file_backend_from_the_flags():
    (config,) = backends.configs(settings())
    assert config == backends.BackendConfig(
        name="file", pools=("p1", "p2"), capacity_gb=50, reserved_percentage=5, max_over_subscription_ratio=20.0
    )


def test_backends_list_overrides_per_backend():
    spec = [
        {"name": "fast", "capabilities": {"disk_type": "ssd", "iops": 5000}},
        {"name": "bulk", "pools": ["c"], "thin": False, "capacity_gb": 500, "max_over_subscription_ratio": 1},
    ]
    fast, bulk = backends.configs(settings(backends=json.dumps(spec)))
    assert (fast.name, fast.pools, fast.capabilities, fast.thin) == ("fast", ("p1", "p2"), {"disk_type": "ssd", "iops": "5000"}, True)
    assert (bulk.pools, bulk.thin, bulk.capacity_gb, bulk.max_over_subscription_ratio) == (("c",), False, 500.0, 1.0)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("not json", "not JSON"),
        ("[]", "non-empty JSON list"),
        ('[{"pools": ["a"]}]', "object with a name"),
        ('[{"name": "a b"}]', "use 1-64 letters"),
        ('[{"name": "a", "colour": "red"}]', "unknown field"),
        ('[{"name": "a", "driver": "lvm"}]', "unknown driver"),
        ('[{"name": "a", "pools": []}]', "pools must be"),
        ('[{"name": "a", "reserved_percentage": 100}]', "0-99"),
        ('[{"name": "a", "capacity_gb": "lots"}]', "backend a"),
        ('[{"name": "a"}, {"name": "a"}]', "unique"),
    ],
)
def test_bad_backends_are_refused_with_the_reason(spec, message):
    with pytest.raises(backends.BadBackends, match=message):
        backends.configs(settings(backends=spec))


def test_a_service_with_bad_backends_exits_with_the_reason(tmp_path):
    with pytest.raises(SystemExit, match="volume service: .*unknown driver"):
        backends.Backends(settings(backends='[{"name": "a", "driver": "lvm"}]', data_dir=str(tmp_path)))


def test_pools_are_located_by_name(tmp_path):
    found = backends.Backends(settings(backends='[{"name": "fast"}, {"name": "bulk", "pools": ["c"]}]', data_dir=str(tmp_path)))
    driver, pool = found.locate("host-a@bulk#c")
    assert (driver.backend, pool) == ("bulk", "c")
    assert driver.capabilities["volume_backend_name"] == "bulk"
    with pytest.raises(ValueError, match="no backend 'slow'"):
        found.locate("host-a@slow#c")
