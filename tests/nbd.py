"""NBD clients for tests: the server is Debian's nbdkit, the clients come
from libnbd-bin (nbdcopy, nbdinfo), given an export's connection data (its
TLS-PSK included) or a URI. Where they are missing the tests skip with the
reason, except where EMBER_REQUIRE_NBD is set (CI)."""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import subprocess
from typing import Iterator, Mapping

from ember import nbd_psk
from tests import prerequisites

TOOLS = ("nbdkit", "nbdcopy", "nbdinfo")


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    prerequisites.missing(f"NBD tests need {', '.join(missing)} (apt-get install nbdkit libnbd-bin)",
                          "EMBER_REQUIRE_NBD")


@contextlib.contextmanager
def uri_of(export: Mapping[str, str] | str) -> Iterator[str]:
    """The URI nbdcopy and nbdinfo open for an export: its connection data
    (with its TLS-PSK in a private file while the URI is used), or a URI."""
    if isinstance(export, str):
        yield export
        return
    with nbd_psk.libnbd_uri_of(export) as uri:
        yield uri


def write(source: pathlib.Path, export: Mapping[str, str] | str) -> subprocess.CompletedProcess:
    """Copies a local file to offset 0 of an export, flushed."""
    with uri_of(export) as uri:
        return subprocess.run(["nbdcopy", "--flush", str(source), uri], capture_output=True, text=True, timeout=120)


def read(export: Mapping[str, str] | str, destination: pathlib.Path) -> None:
    with uri_of(export) as uri:
        subprocess.run(["nbdcopy", uri, str(destination)], check=True, capture_output=True, timeout=120)


def answers(export: Mapping[str, str] | str) -> bool:
    with uri_of(export) as uri:
        return subprocess.run(["nbdinfo", "--size", uri], capture_output=True, timeout=30).returncode == 0


def same_start(path: pathlib.Path, data: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(data)) == data
