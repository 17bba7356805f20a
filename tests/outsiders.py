"""Every way into an internal port short of a certificate of the internal
CA, as an outsider would try it, and what each RPC answers it."""

from __future__ import annotations

import grpc
import trustme

from ember import auth
from tests.integration.test_security import INTERNAL_SERVICES, call, name_of


def channels(address: str, ca_pem: bytes) -> dict[str, grpc.Channel]:
    """Every way in short of a certificate of the internal CA; each trusts
    that CA, so only the missing or foreign client certificate can fail it."""
    foreign = trustme.CA().issue_cert(address.rpartition(":")[0])
    chain = b"".join(blob.bytes() for blob in foreign.cert_chain_pems)
    return {
        "plaintext": grpc.insecure_channel(address),
        "TLS without a client certificate": grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem)),
        "a certificate from another CA": grpc.secure_channel(
            address, grpc.ssl_channel_credentials(ca_pem, foreign.private_key_pem.bytes(), chain)),
    }


def answers(process: str, address: str, ca_pem: bytes, identity: str) -> dict[str, dict[str, str]]:
    """The status of every RPC of the `process` at `address`, sent each
    outsider's way with the signed `identity`: {way: {rpc: code name}}."""
    metadata = ((auth.INTERNAL_METADATA_KEY, identity),)
    answers = {}
    for way, channel in channels(address, ca_pem).items():
        with channel:
            answers[way] = {name_of(m): call(channel, m, metadata)[0].name
                            for service in INTERNAL_SERVICES[process] for m in service.methods}
    return answers

