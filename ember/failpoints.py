"""Named fault points for tests: EMBER_FAILPOINTS="name=exit" makes the
process die at that point, the way a power cut or kill -9 would;
"name=raise" makes the operation there fail with FailpointError."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
_active: dict[str, str] = {}
ACTIONS = ("exit", "raise")


class FailpointError(RuntimeError):
    """The failure a 'raise' failpoint injects."""


def configure(spec: str) -> None:
    _active.clear()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        if action not in ACTIONS:
            raise SystemExit(f"unknown failpoint action {action!r} in {item!r}; use one of {', '.join(ACTIONS)}")
        _active[name] = action


def hit(name: str) -> None:
    action = _active.get(name)
    if action == "exit":
        log.warning("failpoint %s: exiting now", name)
        logging.shutdown()
        os._exit(17)
    if action == "raise":
        raise FailpointError(f"failpoint {name} injected a failure")
