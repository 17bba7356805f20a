"""Benchmark figures saved as JSON: what `--json` writes, what
`bench.report` keeps beside its document, and what CI's tests read back."""

from __future__ import annotations

import json
import pathlib


def write(figures: dict, path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path
