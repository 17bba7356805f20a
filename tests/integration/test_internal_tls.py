"""Mutual TLS on every internal port: a caller without a certificate of the
internal CA is refused every RPC before its metadata is read, even with a
valid signed identity; a service whose certificate does not name the address
it advertises refuses to start."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ember import auth, launcher, pki
from tests import mtls, outsiders
from tests.harness import Cluster
from tests.integration.test_security import ANSWERS_GATEWAY, BY_NAME, INTERNAL_SERVICES, call


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("internal-tls"))
    try:
        yield c.start_all()
    finally:
        c.stop()


def _address(cluster, process: str) -> str:
    return next(p.address for p in cluster.processes if p.name == process)


@pytest.mark.parametrize("process", sorted(INTERNAL_SERVICES))
def test_every_internal_rpc_refuses_callers_without_the_internal_cas_certificate(cluster, process):
    address = _address(cluster, process)
    # A signed identity as a real gateway sends it: captured or replayed, it
    # opens nothing without the channel it must travel in.
    identity = auth.create_internal(auth.Identity("tls-other", "mallory", (auth.ADMIN_ROLE,)), cluster.secret.encode())
    with mtls.channel(cluster.data_dir, address) as inside:
        answer = call(inside, BY_NAME[ANSWERS_GATEWAY[process]], ((auth.INTERNAL_METADATA_KEY, identity),))
        assert answer[0] == grpc.StatusCode.OK
    ca = pki.ensure_local(cluster.data_dir).ca.read_bytes()
    answers = outsiders.answers(process, address, ca, identity)
    assert set(answers) == {"plaintext", "TLS without a client certificate", "a certificate from another CA"}
    for what, codes in answers.items():
        wrong = {name: code for name, code in codes.items() if code != grpc.StatusCode.UNAVAILABLE.name}
        assert not wrong, (what, wrong)


def test_health_answers_inside_mutual_tls(cluster):
    with mtls.channel(cluster.data_dir, _address(cluster, "volume")) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_a_certificate_that_does_not_name_the_advertised_address_refuses_to_start(cluster, tmp_path):
    files = pki.ensure_local(cluster.data_dir)
    elsewhere = pki.issue(files.ca.parent, tmp_path, "elsewhere", ["198.18.200.1"])
    env = cluster.env(EMBER_TLS_CERT=str(elsewhere.cert), EMBER_TLS_KEY=str(elsewhere.key), EMBER_HOST="host-z")
    with pytest.raises(RuntimeError) as refused:
        launcher.start_service("volume", env, tmp_path / "logs", name="volume-misnamed")
    assert "does not name 127.0.0.1, the address this process advertises" in str(refused.value)
    assert "ember pki issue --ip 127.0.0.1" in str(refused.value)
