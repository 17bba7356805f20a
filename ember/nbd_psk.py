"""The TLS-PSK secret of one NBD export: the connection info keys that carry
it, and the PSK file (`identity:hexkey`, mode 0600) nbdkit, QEMU and libnbd read."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import re
import secrets
import tempfile
import urllib.parse
from typing import Iterator, Mapping

from ember import files

# Keys of ConnectionInfo.data (documented in protos/ember/v1/attachment.proto).
TLS = "tls"
PSK = "psk"
IDENTITY = "tls_psk_identity"
KEY = "tls_psk_key"
KEY_BYTES = 32
# QEMU's tls-creds-psk looks for this name in its directory.
FILE_NAME = "keys.psk"
# The identity goes into a PSK file line and a URI's user part: nothing that could end or split either.
_IDENTITY = re.compile(r"[A-Za-z0-9._-]{1,128}")
_KEY = re.compile(r"(?:[0-9a-f]{2}){16,64}")


@dataclasses.dataclass(frozen=True)
class Psk:
    identity: str
    key: str = dataclasses.field(repr=False)

    def __post_init__(self):
        if not _IDENTITY.fullmatch(self.identity) or not _KEY.fullmatch(self.key):
            raise ValueError("a TLS-PSK needs an identity of letters, digits, '.', '_', '-' and a hex key")

    @classmethod
    def new(cls, identity: str) -> "Psk":
        return cls(identity, secrets.token_hex(KEY_BYTES))

    def data(self) -> dict[str, str]:
        return {TLS: PSK, IDENTITY: self.identity, KEY: self.key}


def of(data: Mapping[str, str]) -> Psk | None:
    """The PSK an export's connection data asks for; None for a plaintext export."""
    if data.get(TLS) != PSK:
        return None
    return Psk(data[IDENTITY], data[KEY])


def write(path: pathlib.Path, psk: Psk) -> None:
    files.write_private(path, f"{psk.identity}:{psk.key}\n")


@contextlib.contextmanager
def private_file(psk: Psk) -> Iterator[pathlib.Path]:
    """The PSK in a file of a new directory only this user can enter, both
    gone on leaving; the directory is what QEMU's tls-creds-psk takes."""
    with tempfile.TemporaryDirectory(prefix="ember-psk-") as directory:
        path = pathlib.Path(directory) / FILE_NAME
        write(path, psk)
        yield path


def libnbd_uri(data: Mapping[str, str], psk_file: pathlib.Path) -> str:
    """The export's URI as libnbd's tools (nbdcopy, nbdinfo) take it with
    its PSK: the identity as the URI's user, the key file as a parameter."""
    psk = of(data)
    if psk is None:
        return data["uri"]
    scheme, rest = data["uri"].split("://", 1)
    return f"{scheme}://{psk.identity}@{rest}?tls-psk-file={urllib.parse.quote(str(psk_file))}"



@contextlib.contextmanager
def libnbd_uri_of(data: Mapping[str, str]) -> Iterator[str]:
    """libnbd_uri of the export of connection `data`, its PSK in a private
    file while the block runs."""
    psk = of(data)
    if psk is None:
        yield data["uri"]
        return
    with private_file(psk) as path:
        yield libnbd_uri(data, path)


# The configuration GnuTLS reads unless told otherwise; an operator's policy there wins.
SYSTEM_PRIORITY_FILE = pathlib.Path("/etc/gnutls/config")
NO_CHACHA = "[overrides]\ntls-disabled-cipher = CHACHA20-POLY1305\n"


def _cpu_has_aes() -> bool:
    try:
        flags = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"^flags\s*:.*\baes\b", flags, re.M) is not None


def server_env(directory: pathlib.Path) -> dict[str, str]:
    """What nbdkit's environment needs for TLS at the CPU's speed. GnuTLS
    lets the client's preference pick the cipher, and libnbd's and QEMU's
    put ChaCha20-Poly1305 first: measured here, its C code serves 1 GiB at
    310 MiB/s, where AES-GCM on the CPU's AES instructions serves 900. With
    those instructions, and no GnuTLS policy of the operator's, the export
    offers no ChaCha20."""
    if not _cpu_has_aes() or "GNUTLS_SYSTEM_PRIORITY_FILE" in os.environ or SYSTEM_PRIORITY_FILE.exists():
        return {}
    path = directory / "gnutls.conf"
    if not path.exists() or path.read_text() != NO_CHACHA:
        path.write_text(NO_CHACHA)
    return {"GNUTLS_SYSTEM_PRIORITY_FILE": str(path)}
