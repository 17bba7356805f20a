"""Named crash points for recovery tests: EMBER_FAILPOINTS="name=exit" makes
the process die at that point, the way a power cut or kill -9 would."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)
_active: dict[str, str] = {}


def configure(spec: str) -> None:
    _active.clear()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        if action != "exit":
            raise SystemExit(f"unknown failpoint action {action!r} in {item!r}; only 'exit' exists")
        _active[name] = action


def hit(name: str) -> None:
    if _active.get(name) == "exit":
        log.warning("failpoint %s: exiting now", name)
        logging.shutdown()
        os._exit(17)
