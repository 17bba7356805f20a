"""The TLS settings of the gateway's public port: both files or neither, and each one readable
PEM that fits the other, else the gateway refuses to start and says why."""

import grpc
import pytest
import trustme

from ember.config import Settings
from ember.tls import public_credentials


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def pair(tmp_path, ca):
    """(certificate chain, private key) files for 127.0.0.1."""
    server = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(key)
    return cert, key


def refusal(**settings) -> str:
    with pytest.raises(SystemExit) as exit:
        public_credentials(Settings(**settings))
    return str(exit.value)


def test_neither_file_is_plaintext():
    assert public_credentials(Settings()) is None


def test_a_certificate_and_its_key_are_tls(pair):
    cert, key = pair
    assert isinstance(public_credentials(Settings(public_tls_cert=str(cert), public_tls_key=str(key))), grpc.ServerCredentials)


def test_one_without_the_other_is_refused(pair):
    cert, key = pair
    assert refusal(public_tls_cert=str(cert)) == (
        "public_tls_cert is set but public_tls_key is not: TLS needs both (EMBER_PUBLIC_TLS_CERT, EMBER_PUBLIC_TLS_KEY)"
    )
    assert refusal(public_tls_key=str(key)).startswith("public_tls_key is set but public_tls_cert is not")


def test_a_missing_file_is_named(pair, tmp_path):
    cert, _ = pair
    missing = tmp_path / "absent.pem"
    assert refusal(public_tls_cert=str(cert), public_tls_key=str(missing)) == (
        f"public_tls_key: cannot read {missing}: No such file or directory"
    )


@pytest.mark.parametrize(
    "swap, message",
    [
        ("cert", "public_tls_cert: {cert} holds no PEM certificate"),
        ("key", "public_tls_key: {key} holds no PEM private key"),
    ],
)
def test_a_file_that_is_not_pem_is_named(pair, swap, message):
    cert, key = pair
    (cert if swap == "cert" else key).write_text("this is not PEM\n")
    assert refusal(public_tls_cert=str(cert), public_tls_key=str(key)) == message.format(cert=cert, key=key)


def test_a_certificate_given_as_the_key_is_refused(pair):
    cert, _ = pair
    assert refusal(public_tls_cert=str(cert), public_tls_key=str(cert)) == f"public_tls_key: {cert} holds no PEM private key"


def test_a_key_that_does_not_fit_the_certificate_is_refused(pair, ca, tmp_path):
    cert, _ = pair
    other = tmp_path / "other-key.pem"
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(other)
    assert refusal(public_tls_cert=str(cert), public_tls_key=str(other)) == (
        "public_tls_key is not the private key of public_tls_cert, or one of them is not valid PEM"
    )


def test_a_damaged_pem_is_refused(pair):
    cert, key = pair
    cert.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    assert "not valid PEM" in refusal(public_tls_cert=str(cert), public_tls_key=str(key))
