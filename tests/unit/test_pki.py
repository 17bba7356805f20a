"""The internal CA: `ember pki init` and `issue` make what mutual TLS needs,
and a process refuses a certificate that its peers would refuse, saying why."""

from __future__ import annotations

import subprocess
import sys

import pytest
import trustme
from cryptography import x509

from ember import pki, tls
from ember.config import Settings


@pytest.fixture
def ca_dir(tmp_path):
    pki.init_ca(tmp_path / "ca")
    return tmp_path / "ca"


def sans(path) -> list:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return [str(v.value) for v in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]


def test_a_ca_is_never_replaced_and_keys_are_private(ca_dir):
    before = (ca_dir / pki.CA_CERT).read_bytes()
    with pytest.raises(pki.PkiError, match="already holds a CA"):
        pki.init_ca(ca_dir)
    assert (ca_dir / pki.CA_CERT).read_bytes() == before
    assert (ca_dir / pki.CA_KEY).stat().st_mode & 0o077 == 0


def test_a_host_certificate_names_the_host_and_its_addresses(ca_dir, tmp_path):
    files = pki.issue(ca_dir, tmp_path / "out", "store-1", ["198.18.0.41", "fd00::41"], ["store-1.example"])
    assert sans(files.cert) == ["store-1", "store-1.example", "198.18.0.41", "fd00::41"]
    assert files.key.stat().st_mode & 0o077 == 0
    pki.check_host(str(files.ca), str(files.cert), str(files.key), ["198.18.0.41", "store-1.example", "[fd00::41]"])


def test_an_address_is_not_a_name(ca_dir, tmp_path):
    with pytest.raises(pki.PkiError, match="not an IP address"):
        pki.issue(ca_dir, tmp_path, "h", ["store-1"])


def refusal(files: pki.TlsFiles, advertised=("198.18.0.41",), **override) -> str:
    paths = {"ca": str(files.ca), "cert": str(files.cert), "key": str(files.key), **override}
    with pytest.raises(pki.PkiError) as refused:
        pki.check_host(paths["ca"], paths["cert"], paths["key"], list(advertised))
    return str(refused.value)


def test_what_peers_would_refuse_is_refused_first(ca_dir, tmp_path):
    files = pki.issue(ca_dir, tmp_path, "store-1", ["198.18.0.41"])
    assert "does not name 198.18.0.42" in refusal(files, ["198.18.0.42"])
    other = tmp_path / "other"
    pki.init_ca(other)
    assert "was not issued by the CA" in refusal(files, ca=str(other / pki.CA_CERT))
    stranger = pki.issue(ca_dir, tmp_path / "s", "store-2", ["198.18.0.42"])
    assert "is not the private key" in refusal(files, key=str(stranger.key))
    expired = pki.issue(ca_dir, tmp_path / "e", "old", ["198.18.0.41"], days=0)
    assert "expired" in refusal(expired)
    assert "cannot read" in refusal(files, cert=str(tmp_path / "absent.pem"))
    foreign = trustme.CA().issue_cert("198.18.0.41")
    foreign.cert_chain_pems[0].write_to_path(tmp_path / "foreign.pem")
    assert "was not issued by the CA" in refusal(files, cert=str(tmp_path / "foreign.pem"))


def test_the_settings_take_all_three_files_or_none(ca_dir, tmp_path):
    files = pki.issue(ca_dir, tmp_path, "localhost", ["127.0.0.1"])
    assert tls.internal(Settings()) is None
    with pytest.raises(SystemExit, match="tls_ca, tls_cert set but tls_key not"):
        tls.internal(Settings(tls_ca=str(files.ca), tls_cert=str(files.cert)))
    both = Settings(tls_ca=str(files.ca), tls_cert=str(files.cert), tls_key=str(files.key))
    assert tls.internal(both).ca == files.ca.read_bytes()
    with pytest.raises(SystemExit, match="does not name 198.18.0.9"):
        tls.internal(Settings(**{**vars(both), "listen": "0.0.0.0:0", "advertise": "198.18.0.9"}))
    # A gateway serves no internal calls: its certificate only has to be the CA's.
    assert tls.internal(Settings(**{**vars(both), "advertise": "198.18.0.9"}), serves=False) is not None


def test_ensure_local_is_made_once(tmp_path):
    first = pki.ensure_local(tmp_path)
    cert = first.cert.read_bytes()
    assert pki.ensure_local(tmp_path) == first and first.cert.read_bytes() == cert
    pki.check_host(str(first.ca), str(first.cert), str(first.key), ["127.0.0.1", "localhost"])


def test_the_cli_prints_config_file_lines(tmp_path):
    ember = [sys.executable, "-m", "cli.main", "pki"]
    made = subprocess.run([*ember, "init", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert made.returncode == 0 and str(tmp_path / pki.CA_CERT) in made.stdout
    issued = subprocess.run([*ember, "issue", "--dir", str(tmp_path), "--host", "ctl-1", "--ip", "198.18.0.11"],
                            capture_output=True, text=True)
    assert issued.returncode == 0, issued.stderr
    assert f"tls_cert = '{tmp_path / 'ctl-1.pem'}'" in issued.stdout
    again = subprocess.run([*ember, "init", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 1 and "already holds a CA" in again.stderr


def test_a_bundle_of_the_old_and_the_new_ca_admits_certificates_of_both(ca_dir, tmp_path):
    new_ca = tmp_path / "new"
    pki.init_ca(new_ca)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes((ca_dir / pki.CA_CERT).read_bytes() + (new_ca / pki.CA_CERT).read_bytes())
    for ca in (ca_dir, new_ca):
        files = pki.issue(ca, tmp_path / ca.name, "store-1", ["198.18.0.41"])
        pki.check_host(str(bundle), str(files.cert), str(files.key), ["198.18.0.41"])
