"""What the guest tests need on the host: QEMU for x86_64, and apt-get,
dpkg-deb and cpio to build the guest image. Where they are missing the tests
skip with the reason, except where EMBER_REQUIRE_QEMU is set (CI)."""

from __future__ import annotations

import shutil

from tests import prerequisites

TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "cpio": "cpio", "apt-get": "apt", "dpkg-deb": "dpkg"}


def require_tools() -> None:
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    prerequisites.missing(f"guest tests need Debian's {', '.join(missing)} (apt-get install {' '.join(missing)})",
                          "EMBER_REQUIRE_QEMU")
