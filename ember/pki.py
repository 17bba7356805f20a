"""Ember's internal certificate authority: a CA, host certificates signed by it
(the host's names and addresses as SANs, good for serving and for calling),
and the check a process runs on its own certificate before it starts."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import pathlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ember import files

CA_DAYS = 3650
# As the CA/Browser Forum's limit for server certificates: rotation stays a habit.
HOST_DAYS = 397
CA_CERT, CA_KEY = "ca.pem", "ca.key"
LOCAL_HOST = "localhost"


class PkiError(ValueError):
    """A certificate or key that cannot be used; str() says why and what to do."""


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """The three files every Ember process is given: tls_ca, tls_cert, tls_key."""

    ca: pathlib.Path
    cert: pathlib.Path
    key: pathlib.Path

    def env(self) -> dict[str, str]:
        return {"EMBER_TLS_CA": str(self.ca), "EMBER_TLS_CERT": str(self.cert), "EMBER_TLS_KEY": str(self.key)}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def init_ca(directory: pathlib.Path, name: str = "Ember internal CA", days: int = CA_DAYS) -> pathlib.Path:
    """Makes ca.pem and ca.key in `directory`; refuses to replace a CA, whose
    loss would orphan every certificate it signed."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.exists() or key_path.exists():
        raise PkiError(f"{directory} already holds a CA ({CA_CERT}); to rotate, make the new one elsewhere "
                       "(see docs/security.md)")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ember"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files.write_private(key_path, _key_pem(key))
    cert_path.write_bytes(_cert_pem(cert))
    return cert_path


def _load_ca(directory: pathlib.Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), password=None)
    except FileNotFoundError as missing:
        raise PkiError(f"no CA in {directory} ({missing.filename} is missing); make one with `ember pki init`")
    return cert, key


def _san(names: list[str], ips: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(names)]
    for ip in dict.fromkeys(ips):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise PkiError(f"--ip {ip!r} is not an IP address; give names with --dns")
    return x509.SubjectAlternativeName(entries)


def issue(ca_dir: pathlib.Path, out_dir: pathlib.Path, host: str, ips: list[str], names: list[str] = (),
          days: int = HOST_DAYS) -> TlsFiles:
    """A certificate and key for `host`'s services, as <host>.pem and
    <host>.key in `out_dir`: its SANs are the host name, `names` and `ips`."""
    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ember"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(_san([host, *names], list(ips)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # One certificate per host both serves its ports and calls other hosts'.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    issued = TlsFiles(ca_dir / CA_CERT, out_dir / f"{host}.pem", out_dir / f"{host}.key")
    files.write_private(issued.key, _key_pem(key))
    issued.cert.write_bytes(_cert_pem(cert))
    return issued


def ensure_local(data_dir: pathlib.Path) -> TlsFiles:
    """The CA and loopback certificate of a single-machine Ember (`ember up`,
    tests), made under <data_dir>/pki the first time and reused after."""
    directory = data_dir / "pki"
    local = TlsFiles(directory / CA_CERT, directory / f"{LOCAL_HOST}.pem", directory / f"{LOCAL_HOST}.key")
    if not local.ca.exists():
        init_ca(directory, name="Ember local CA")
    if not (local.cert.exists() and local.key.exists()):
        issue(directory, directory, LOCAL_HOST, ["127.0.0.1", "::1"])
    return local


def _read(setting: str, path: str, load):
    try:
        return load(pathlib.Path(path).expanduser().read_bytes())
    except OSError as exc:
        raise PkiError(f"{setting}: cannot read {path}: {exc.strerror}")
    except ValueError:
        raise PkiError(f"{setting}: {path} is not valid PEM")


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def covers(cert: x509.Certificate, host: str) -> bool:
    """Whether `host` (a name or an address) is among the certificate's SANs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")) in san.get_values_for_type(x509.IPAddress)
    except ValueError:
        return host.lower() in (n.lower() for n in san.get_values_for_type(x509.DNSName))


def check_host(ca: str, cert: str, key: str, advertised: list[str]) -> None:
    """Refuses (PkiError, saying why) a host certificate that tls_ca did not
    sign, that has expired, whose key is not tls_key, or whose names do not
    cover every host in `advertised`, which peers would then refuse."""
    # tls_ca may hold several CAs: the old and the new one while the CA is rotated.
    ca_certs = _read("tls_ca", ca, x509.load_pem_x509_certificates)
    host_cert = _read("tls_cert", cert, x509.load_pem_x509_certificate)
    host_key = _read("tls_key", key, lambda data: serialization.load_pem_private_key(data, password=None))
    if not any(_issued_by(host_cert, ca_cert) for ca_cert in ca_certs):
        raise PkiError(f"tls_cert {cert} was not issued by the CA of tls_ca {ca}; issue one with `ember pki issue`")
    if not _now() < host_cert.not_valid_after_utc:
        raise PkiError(f"tls_cert {cert} expired on {host_cert.not_valid_after_utc:%Y-%m-%d}; issue a new one")
    if host_key.public_key().public_numbers() != host_cert.public_key().public_numbers():
        raise PkiError(f"tls_key {key} is not the private key of tls_cert {cert}")
    for host in dict.fromkeys(advertised):
        if not covers(host_cert, host):
            raise PkiError(f"tls_cert {cert} does not name {host}, the address this process advertises, so other "
                           f"hosts would refuse it; issue one with `ember pki issue --ip {host}` (or --dns)")
