"""A stopping instance leaves the registry first, then keeps serving for a
moment while other instances of its service exist to take its calls."""

import asyncio

import nats.js.errors
import pytest

from ember import kv, runtime


class Registry:
    def __init__(self, *keys: str):
        self.stored = list(keys)

    async def keys(self):
        if not self.stored:
            raise nats.js.errors.NoKeysError
        return list(self.stored)

    async def put(self, key, value):
        if key not in self.stored:
            self.stored.append(key)

    async def delete(self, key):
        self.stored.remove(key)


class Clock:
    """Stands for asyncio in ember.runtime: a sleep there is the drain, so it
    is recorded, with the keys the registry held as it began, not waited out."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.sleeps: list[tuple[float, list[str]]] = []

    def __getattr__(self, name):
        return getattr(asyncio, name)

    async def sleep(self, delay, result=None):
        self.sleeps.append((delay, list(self.registry.stored)))
        return result


async def leave(registry: Registry, monkeypatch) -> Clock:
    """The drains of an instance registered as volume.me as it leaves the registry."""
    clock = Clock(registry)
    instance = runtime.Runtime.__new__(runtime.Runtime)
    instance.service_name = "volume"
    instance._heartbeat = kv.Heartbeat(registry, "volume.me", lambda: asyncio.sleep(0, {}), interval=60)
    await instance._heartbeat.start()
    assert "volume.me" in registry.stored
    monkeypatch.setattr(runtime, "asyncio", clock)
    await asyncio.wait_for(instance._leave_registry(), 5)
    return clock


async def test_an_instance_with_peers_drains_after_leaving(monkeypatch):
    registry = Registry("volume.other", "scheduler.x")
    clock = await leave(registry, monkeypatch)
    assert clock.sleeps == [(runtime.DRAIN_DELAY, ["volume.other", "scheduler.x"])]


@pytest.mark.parametrize("keys", [(), ("scheduler.x", "volume-admin.y")])
async def test_the_only_instance_of_its_service_stops_at_once(monkeypatch, keys):
    registry = Registry(*keys)
    clock = await leave(registry, monkeypatch)
    assert clock.sleeps == []
    assert "volume.me" not in registry.stored


async def test_a_registry_that_cannot_list_its_keys_means_no_drain():
    class Broken(Registry):
        async def keys(self):
            raise nats.errors.TimeoutError

    class Silent(Registry):
        async def keys(self):
            await asyncio.sleep(30)

    for registry in (Broken("volume.other"), Silent("volume.other")):
        beat = kv.Heartbeat(registry, "volume.me", lambda: asyncio.sleep(0, {}), interval=60)
        assert not await asyncio.wait_for(beat.others("volume.", timeout=0.1), 5)
