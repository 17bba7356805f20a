"""Every extra-spec operator, which keys are capabilities, and bad specs."""

import pytest

from ember import extra_specs


@pytest.mark.parametrize(
    "capability, requirement, expected",
    [
        ("True", "<is> True", True),
        ("true", "<is> True", True),
        ("False", "<is> True", False),
        ("False", "<is> False", True),
        ("ssd-fast", "<in> ssd", True),
        ("hdd", "<in> ssd", False),
        ("100", "= 50", True),
        ("40", "= 50", False),
        ("100", "== 100", True),
        ("100.0", "== 100", True),
        ("101", "== 100", False),
        ("101", "!= 100", True),
        ("100", "!= 100", False),
        ("7", ">= 7", True),
        ("6", ">= 7", False),
        ("7", "<= 7", True),
        ("8", "<= 7", False),
        ("abc", "s== abc", True),
        ("abd", "s== abc", False),
        ("abd", "s!= abc", True),
        ("b", "s>= a", True),
        ("a", "s<= b", True),
        ("b", "s> a", True),
        ("a", "s> a", False),
        ("a", "s< b", True),
        ("gold", "<or> silver <or> gold", True),
        ("bronze", "<or> silver <or> gold", False),
        ("ssd", "ssd", True),
        ("ssd ", "ssd", False),
        ("two words", "two words", True),
        ("n/a", ">= 7", False),
        (None, "ssd", False),
    ],
)
def test_operators(capability, requirement, expected):
    assert extra_specs.matches(capability, requirement) is expected


@pytest.mark.parametrize(
    "key, capability",
    [("disk_type", "disk_type"), ("capabilities:disk_type", "disk_type"), ("provisioning:type", None),
     ("RESKEY:availability_zones", None), ("vendor:thing", None)],
)
def test_which_keys_are_capabilities(key, capability):
    assert extra_specs.capability_key(key) == capability


@pytest.mark.parametrize(
    "key, requirement, message",
    [
        ("iops", ">= fast", "needs a number"),
        ("iops", ">= 1 2", "exactly one value"),
        ("tier", "<or> a b", "alternatives"),
        ("tier", "<is>", "exactly one value"),
        ("provisioning:type", "sparse", "thin, thick"),
    ],
)
def test_unreadable_specs_are_refused(key, requirement, message):
    with pytest.raises(extra_specs.BadSpec, match=message):
        extra_specs.check(key, requirement)


def test_scoped_keys_other_than_capabilities_are_not_parsed():
    extra_specs.check("vendor:anything", ">= not-a-number")


def test_unmet_lists_every_miss_and_ignores_other_scopes():
    specs = {"disk_type": "ssd", "capabilities:iops": ">= 1000", "provisioning:type": "thick", "replicas": "3"}
    assert extra_specs.unmet({"disk_type": "hdd", "iops": "5000"}, specs) == [
        "disk_type 'ssd' (has 'hdd')",
        "replicas '3' (not reported)",
    ]


def test_zones_and_thick():
    assert extra_specs.zones({"RESKEY:availability_zones": " z1,z2 ,, "}) == ["z1", "z2"]
    assert extra_specs.zones({}) == []
    assert extra_specs.thick({"provisioning:type": "thick"})
    assert not extra_specs.thick({"provisioning:type": "thin"})
