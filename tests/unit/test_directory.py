"""The gateway's view of where services run: instances that could not be
reached are passed over until they heartbeat again or expire."""

import time

import pytest

from ember.directory import Directory
from ember.errors import Unavailable


class Mirror:
    def __init__(self, entries):
        self.entries = entries

    def fresh(self, prefix, max_age):
        now = time.time()
        return {k: v for k, v in self.entries.items() if k.startswith(prefix) and now - v["ts"] <= max_age}


def directory(**addresses):
    d = Directory(ttl=6)
    d.mirror = Mirror({f"volume.{name}": {"address": a, "host": "h", "ts": time.time()} for name, a in addresses.items()})
    return d


def test_an_unreachable_instance_is_passed_over_until_it_heartbeats_again():
    d = directory(a="10.0.0.1:1", b="10.0.0.2:1")
    d.mark_down("10.0.0.1:1")
    assert d.addresses("volume") == ["10.0.0.2:1"]
    assert {d.pick("volume") for _ in range(4)} == {"10.0.0.2:1"}
    d.mirror.entries["volume.a"]["ts"] = time.time() + 1
    assert d.addresses("volume") == ["10.0.0.1:1", "10.0.0.2:1"]


def test_pick_skips_tried_instances_while_others_exist():
    d = directory(a="10.0.0.1:1", b="10.0.0.2:1", c="10.0.0.3:1")
    assert {d.pick("volume", avoid=["10.0.0.1:1", "10.0.0.2:1"]) for _ in range(3)} == {"10.0.0.3:1"}
    every = ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]
    assert d.pick("volume", avoid=every) in every


def test_no_reachable_instance_is_unavailable_and_says_what_to_start():
    d = directory(a="10.0.0.1:1")
    d.mark_down("10.0.0.1:1")
    with pytest.raises(Unavailable, match="python -m volume"):
        d.pick("volume")
