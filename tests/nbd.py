"""NBD clients for tests: the server is Debian's nbdkit, the clients come
from libnbd-bin (nbdcopy, nbdinfo). Where they are missing the tests skip
with the reason, except where EMBER_REQUIRE_NBD is set (CI)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

from tests import prerequisites

TOOLS = ("nbdkit", "nbdcopy", "nbdinfo")


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    prerequisites.missing(f"NBD tests need {', '.join(missing)} (apt-get install nbdkit libnbd-bin)",
                          "EMBER_REQUIRE_NBD")


def write(source: pathlib.Path, uri: str) -> subprocess.CompletedProcess:
    """Copies a local file to offset 0 of an export, flushed."""
    return subprocess.run(["nbdcopy", "--flush", str(source), uri], capture_output=True, text=True, timeout=120)


def read(uri: str, destination: pathlib.Path) -> None:
    subprocess.run(["nbdcopy", uri, str(destination)], check=True, capture_output=True, timeout=120)


def answers(uri: str) -> bool:
    return subprocess.run(["nbdinfo", "--size", uri], capture_output=True, timeout=30).returncode == 0


def same_start(path: pathlib.Path, data: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(data)) == data
