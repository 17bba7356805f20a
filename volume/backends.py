"""The backends one volume service runs, from its settings: each a driver
from volume.drivers.REGISTRY with pools, capacity rules and capabilities.


`--backends` (EMBER_BACKENDS) takes a JSON list; every field but the name
is optional and defaults to the single-backend flags:

    [{"name": "fast", "pools": ["a", "b"], "capabilities": {"disk_type": "ssd"}},
     {"name": "bulk", "pools": ["c"], "capacity_gb": 500, "thin": false,
      "reserved_percentage": 10, "max_over_subscription_ratio": 1}]

Without it the host runs one backend named "file" with the --pools.
"""

from __future__ import annotations

import dataclasses
import json
import re

from ember import pool_names
from ember.config import Settings
from volume.drivers import REGISTRY
from volume.drivers.base import BackendConfig, Driver

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_BACKEND = "file"


class BadBackends(ValueError):
    """The backends setting cannot be used; str() says why."""


def _config(entry, settings: Settings) -> BackendConfig:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise BadBackends(f"each backend is an object with a name, not {entry!r}")
    name = entry["name"]
    known = {f.name for f in dataclasses.fields(BackendConfig)}
    unknown = set(entry) - known
    if unknown:
        raise BadBackends(f"backend {name}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        config = BackendConfig(
            name=name,
            pools=tuple(entry.get("pools", _pools(settings.pools))),
            driver=entry.get("driver", "file"),
            capacity_gb=float(entry.get("capacity_gb", settings.pool_capacity_gb)),
            reserved_percentage=int(entry.get("reserved_percentage", settings.reserved_percentage)),
            max_over_subscription_ratio=float(
                entry.get("max_over_subscription_ratio", settings.max_over_subscription_ratio)
            ),
            thin=bool(entry.get("thin", True)),
            capabilities={str(k): str(v) for k, v in (entry.get("capabilities") or {}).items()},
        )
    except (TypeError, ValueError) as exc:
        raise BadBackends(f"backend {name}: {exc}")
    return _checked(config)


def _checked(config: BackendConfig) -> BackendConfig:
    if not NAME.fullmatch(config.name):
        raise BadBackends(f"backend name {config.name!r}: use 1-64 letters, digits, '_' or '-'")
    if config.driver not in REGISTRY:
        raise BadBackends(f"backend {config.name}: unknown driver {config.driver!r}; known: {', '.join(REGISTRY)}")
    if not config.pools or not all(isinstance(p, str) and NAME.fullmatch(p) for p in config.pools):
        raise BadBackends(f"backend {config.name}: pools must be 1-64 letters, digits, '_' or '-'")
    if not 0 <= config.reserved_percentage < 100:
        raise BadBackends(f"backend {config.name}: reserved_percentage must be 0-99")
    return config


def _pools(spec: str) -> list[str]:
    return [p.strip() for p in spec.split(",") if p.strip()]


def configs(settings: Settings) -> list[BackendConfig]:
    if not settings.backends:
        return [_config({"name": DEFAULT_BACKEND}, settings)]
    try:
        entries = json.loads(settings.backends)
    except ValueError as exc:
        raise BadBackends(f"--backends is not JSON: {exc}")
    if not isinstance(entries, list) or not entries:
        raise BadBackends("--backends must be a non-empty JSON list")
    found = [_config(entry, settings) for entry in entries]
    names = [c.name for c in found]
    if len(set(names)) != len(names):
        raise BadBackends(f"backend names must be unique: {', '.join(names)}")
    return found


class Backends:
    """This host's drivers by backend name, and which one holds a pool."""

    def __init__(self, settings: Settings):
        try:
            found = configs(settings)
        except BadBackends as exc:
            raise SystemExit(f"volume service: {exc}")
        self.configs = {c.name: c for c in found}
        self.drivers: dict[str, Driver] = {
            c.name: REGISTRY[c.driver](settings.data_path / "volumes" / c.name, c) for c in found
        }

    def locate(self, pool_name: str) -> tuple[Driver, str]:
        """(driver, pool) of a pool named host@backend#pool."""
        name = pool_names.parse(pool_name)
        driver = self.drivers.get(name.backend)
        if driver is None:
            raise ValueError(f"this host runs no backend {name.backend!r}")
        return driver, name.pool
