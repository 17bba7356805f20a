"""TLS for Ember's gRPC: the gateway's public port (public_tls_cert and
public_tls_key) and mutual TLS on every internal hop (tls_ca, tls_cert, tls_key)."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from concurrent import futures

import grpc

from ember import addresses, pki
from ember.config import Settings

log = logging.getLogger(__name__)

INTERNAL = ("tls_ca", "tls_cert", "tls_key")


def _read_pem(setting: str, path: str, kind: str) -> bytes:
    location = pathlib.Path(path).expanduser()
    try:
        data = location.read_bytes()
    except OSError as exc:
        raise SystemExit(f"{setting}: cannot read {location}: {exc.strerror}")
    if f"{kind}-----".encode() not in data:
        raise SystemExit(f"{setting}: {location} holds no PEM {kind.lower()}")
    return data


def public_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS for the gateway's public port when both public_tls_cert and
    public_tls_key are set; None (plaintext) when neither is; SystemExit with
    the reason otherwise."""
    cert_path, key_path = settings.public_tls_cert, settings.public_tls_key
    if not cert_path and not key_path:
        return None
    if not (cert_path and key_path):
        given, missing = ("public_tls_cert", "public_tls_key") if cert_path else ("public_tls_key", "public_tls_cert")
        raise SystemExit(f"{given} is set but {missing} is not: TLS needs both "
                         "(EMBER_PUBLIC_TLS_CERT, EMBER_PUBLIC_TLS_KEY)")
    cert = _read_pem("public_tls_cert", cert_path, "CERTIFICATE")
    key = _read_pem("public_tls_key", key_path, "PRIVATE KEY")
    credentials = grpc.ssl_server_credentials([(key, cert)])
    # grpc checks the pair only when a port is added, and then says no more
    # than "failed to bind": a throwaway port on loopback tells a key that
    # does not fit apart from a busy address.
    probe = grpc.server(futures.ThreadPoolExecutor(1))
    try:
        probe.add_secure_port("127.0.0.1:0", credentials)
    except RuntimeError:
        raise SystemExit("public_tls_key is not the private key of public_tls_cert, or one of them is not valid PEM")
    finally:
        probe.stop(None)
    return credentials


@dataclasses.dataclass(frozen=True)
class Internal:
    """The PEM bytes of the internal CA and of this host's certificate and key."""

    ca: bytes
    cert: bytes
    key: bytes

    def server(self) -> grpc.ServerCredentials:
        """Admits only clients that show a certificate the internal CA signed."""
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.ca,
                                           require_client_auth=True)

    def channel(self) -> grpc.ChannelCredentials:
        """Trusts only servers the internal CA signed, and shows this host's certificate."""
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)


def internal(settings: Settings, serves: bool = True) -> Internal | None:
    """The internal TLS files when tls_ca, tls_cert and tls_key are all set,
    after checking that the CA signed the certificate, that the key is its
    own and (when the process `serves` internal calls) that it names the
    host this process advertises; None when none is set (plaintext, for a
    single machine only); SystemExit saying why otherwise."""
    given = [name for name in INTERNAL if getattr(settings, name)]
    if not given:
        log.warning("tls_ca, tls_cert and tls_key are not set: calls between Ember processes are plaintext, "
                    "which only a single machine should run (see docs/security.md)")
        return None
    if len(given) < len(INTERNAL):
        missing = [name for name in INTERNAL if name not in given]
        raise SystemExit(f"{', '.join(given)} set but {', '.join(missing)} not: mutual TLS needs all three "
                         "(EMBER_TLS_CA, EMBER_TLS_CERT, EMBER_TLS_KEY)")
    hosts = [advertised_host(settings)] if serves else []
    try:
        pki.check_host(settings.tls_ca, settings.tls_cert, settings.tls_key, hosts)
    except pki.PkiError as error:
        raise SystemExit(str(error))
    return Internal(_read_pem("tls_ca", settings.tls_ca, "CERTIFICATE"),
                    _read_pem("tls_cert", settings.tls_cert, "CERTIFICATE"),
                    _read_pem("tls_key", settings.tls_key, "PRIVATE KEY"))


def advertised_host(settings: Settings) -> str:
    """The host part of the gRPC address this process will advertise."""
    address = addresses.advertised("advertise", settings.listen, settings.advertise, settings.nats_url)
    return addresses.split(address)[0]
