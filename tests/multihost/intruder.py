"""What the intruder host tries, as functions an Agent runs inside it: it
holds the internal CA's certificate but no host certificate of its own, and
has grpcurl, nats-py and libnbd at hand."""

from __future__ import annotations

import asyncio
import pathlib
import secrets
import ssl
import subprocess

import nats
import trustme

from ember import nbd_psk
from tests import nbd
from tests.e2e.test_grpcurl import grpcurl_binary


def grpcurl_list(address: str, ca: pathlib.Path) -> subprocess.CompletedProcess:
    """`grpcurl list` with the CA but no client certificate, as an operator's tool would try."""
    return subprocess.run([grpcurl_binary(), "-cacert", str(ca), "-max-time", "10", address, "list"],
                          capture_output=True, text=True)


def _foreign_certificate(directory: pathlib.Path) -> tuple[str, str]:
    """(cert, key) files of a CA nobody in Ember trusts."""
    foreign = trustme.CA().issue_cert("intruder")
    cert, key = directory / "foreign.pem", directory / "foreign.key"
    foreign.cert_chain_pems[0].write_to_path(cert)
    foreign.private_key_pem.write_to_path(key)
    return str(cert), str(key)


def nats_attempts(urls: list[str], ca: pathlib.Path, user: str, password: str) -> dict[str, str]:
    """How each way of connecting to NATS with a service's stolen user and
    password ended: {way: "connected" or the error}."""
    cert, key = _foreign_certificate(ca.parent)
    no_cert = ssl.create_default_context(cafile=str(ca))
    foreign = ssl.create_default_context(cafile=str(ca))
    foreign.load_cert_chain(cert, key)
    ways = {"no TLS": {}, "TLS without a client certificate": {"tls": no_cert},
            "a certificate from another CA": {"tls": foreign}}

    async def attempt(options: dict) -> str:
        try:
            nc = await nats.connect(servers=urls, user=user, password=password, allow_reconnect=False,
                                    max_reconnect_attempts=0, connect_timeout=3, **options)
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        await nc.close()
        return "connected"

    return {way: asyncio.run(attempt(options)) for way, options in ways.items()}


def nbd_attempts(victim: dict[str, str], other: dict[str, str], payload: pathlib.Path) -> dict[str, bool]:
    """Whether each way of writing `payload` over the victim attachment's
    export got through: {way: written}. `other` is another attachment's
    connection data, as a guest of another project would hold it."""
    plain = {key: value for key, value in victim.items()
             if key not in (nbd_psk.TLS, nbd_psk.IDENTITY, nbd_psk.KEY)}
    ways = {
        "plaintext": {**plain, "uri": victim["uri"].replace("nbds://", "nbd://", 1)},
        "TLS without a key": plain,
        "a wrong key": {**victim, nbd_psk.KEY: secrets.token_hex(nbd_psk.KEY_BYTES)},
        "another attachment's secret": {**victim, nbd_psk.IDENTITY: other[nbd_psk.IDENTITY],
                                        nbd_psk.KEY: other[nbd_psk.KEY]},
        "another attachment's key under this identity": {**victim, nbd_psk.KEY: other[nbd_psk.KEY]},
    }
    return {way: nbd.write(payload, data).returncode == 0 for way, data in ways.items()}


def nbd_answers(export: dict[str, str]) -> bool:
    return nbd.answers(export)
