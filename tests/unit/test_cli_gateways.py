"""The CLI with several gateways in EMBER_URL: a call goes on to the next
gateway when it never reached one (refused, or no answer to connecting), and
when it may have reached one only if it is a read or carries a request_id.
Against real gRPC servers on loopback that answer, refuse, fail or hang."""

import argparse
import contextlib
import socket
import time
import uuid
from concurrent import futures

import grpc
import pytest
from google.longrunning import operations_pb2

from cli import backups, client, gateways, snapshots, volumes
from ember import errors
from ember.grpc_server import STOPPING
from ember.v1 import attachment_pb2, volume_pb2, volume_pb2_grpc

CREATE = "/ember.v1.VolumeService/CreateVolume"


class Status(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata=None):
        self._code, self._details, self._trailing = code, details, trailing_metadata

    @classmethod
    def of(cls, error: errors.EmberError) -> "Status":
        """As a call ended by Ember's `error` fails, its rich status in the trailing metadata."""
        status = error.to_status()
        return cls(status.code, status.details, status.trailing_metadata)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing


NEVER_ARRIVED = Status(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: "
                                                    "UNKNOWN: ipv4:127.0.0.1:1: Connection refused")
WENT_AWAY = Status(grpc.StatusCode.UNAVAILABLE, "Socket closed")
NO_ANSWER = Status(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
REFUSED = Status(grpc.StatusCode.FAILED_PRECONDITION, "volume is in use")
TURNED_AWAY = Status.of(errors.Unavailable("this gateway is stopping and did nothing of this call", STOPPING))
OTHERWISE_UNAVAILABLE = Status.of(errors.Unavailable("the database is unreachable; try again"))


@pytest.mark.parametrize("method, request_, error, moves_on", [
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1), NEVER_ARRIVED, True),
    ("/ember.v1.VolumeService/DeleteAttachment", attachment_pb2.DeleteAttachmentRequest(), NEVER_ARRIVED, True),
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1), WENT_AWAY, False),
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1), NO_ANSWER, False),
    ("/ember.v1.VolumeService/CompleteAttachment", attachment_pb2.CompleteAttachmentRequest(), WENT_AWAY, False),
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1, request_id=str(uuid.uuid4())), WENT_AWAY, True),
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1, request_id=str(uuid.uuid4())), NO_ANSWER, True),
    ("/ember.v1.VolumeService/GetVolume", volume_pb2.GetVolumeRequest(id="v"), WENT_AWAY, True),
    ("/ember.v1.VolumeService/ListVolumes", volume_pb2.ListVolumesRequest(), NO_ANSWER, True),
    ("/google.longrunning.Operations/WaitOperation", operations_pb2.WaitOperationRequest(), NO_ANSWER, True),
    ("/ember.v1.StatusService/GetStatus", volume_pb2.GetVolumeRequest(), WENT_AWAY, True),
    # A stopping gateway did nothing of the call: any call goes on.
    ("/ember.v1.VolumeService/CompleteAttachment", attachment_pb2.CompleteAttachmentRequest(), TURNED_AWAY, True),
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1), TURNED_AWAY, True),
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1), OTHERWISE_UNAVAILABLE, False),
    # An answer is an answer, whichever gateway gave it.
    ("/ember.v1.VolumeService/GetVolume", volume_pb2.GetVolumeRequest(id="v"), REFUSED, False),
    (CREATE, volume_pb2.CreateVolumeRequest(size_gb=1, request_id=str(uuid.uuid4())), REFUSED, False),
])
def test_which_calls_may_go_to_another_gateway(method, request_, error, moves_on):
    assert gateways.may_go_elsewhere(method, request_, error) is moves_on


def test_ember_url_is_a_comma_separated_list(monkeypatch, capsys):
    monkeypatch.setenv("EMBER_URL", " 10.0.0.1:8776, localhost:8776,,")
    assert client.gateway_addresses() == ["10.0.0.1:8776", "localhost:8776"]
    monkeypatch.setenv("EMBER_URL", " , ")
    with pytest.raises(SystemExit):
        client.gateway_addresses()
    assert "names no gateway" in capsys.readouterr().err


class Gateway(volume_pb2_grpc.VolumeServiceServicer):
    """A gRPC server on loopback that answers, fails calls with UNAVAILABLE
    after they arrived ('going away'), or holds them past their deadline ('hang')."""

    def __init__(self, name: str, behaviour: str = "answer", address: str = "127.0.0.1:0"):
        self.name, self.behaviour, self.received = name, behaviour, []
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        volume_pb2_grpc.add_VolumeServiceServicer_to_server(self, self.server)
        self.address = f"127.0.0.1:{self.server.add_insecure_port(address)}"
        self.server.start()

    def _handle(self, request, context, answer):
        self.received.append(request)
        if self.behaviour == "going away":
            context.abort(grpc.StatusCode.UNAVAILABLE, "the gateway is going away")
        while self.behaviour == "hang" and context.is_active():
            time.sleep(0.02)
        return answer

    def GetVolume(self, request, context):
        return self._handle(request, context, volume_pb2.Volume(id=request.id, host=self.name))

    def CreateVolume(self, request, context):
        return self._handle(request, context, operations_pb2.Operation(name=f"operations/{self.name}"))


@pytest.fixture
def servers():
    started = []

    def start(name: str, behaviour: str = "answer", address: str = "127.0.0.1:0") -> Gateway:
        started.append(Gateway(name, behaviour, address))
        return started[-1]

    yield start
    for gateway in started:
        gateway.server.stop(None)


@pytest.fixture
def refused():
    """An address where nothing listens: bound, so nothing else takes the port meanwhile."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield "127.0.0.1:%d" % bound.getsockname()[1]


@pytest.fixture
def silent():
    """A host that takes connections and never speaks HTTP/2, as one that
    drops packets never completes connecting."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        yield "127.0.0.1:%d" % listening.getsockname()[1]


@contextlib.contextmanager
def volume_service(*addresses: str):
    with gateways.Gateways(list(addresses)) as channel:
        yield volume_pb2_grpc.VolumeServiceStub(channel)


def test_every_call_goes_past_gateways_that_cannot_be_reached(servers, refused, silent, monkeypatch):
    monkeypatch.setattr(gateways, "OPTIONS", (("grpc.min_reconnect_backoff_ms", 1000),))
    live = servers("live")
    with volume_service(refused, silent, live.address) as stub:
        started = time.monotonic()
        op = stub.CreateVolume(volume_pb2.CreateVolumeRequest(size_gb=1), timeout=10)
        # The silent host is given up on at gRPC's connect timeout, not the call's.
        assert op.name == "operations/live" and time.monotonic() - started < 5
        assert stub.GetVolume(volume_pb2.GetVolumeRequest(id="v"), timeout=10).host == "live"
    assert len(live.received) == 2


def test_later_calls_start_at_the_gateway_that_answered(servers):
    first, second = servers("first"), servers("second")
    first.server.stop(None)
    with gateways.Gateways([first.address, second.address]) as channel:
        stub = volume_pb2_grpc.VolumeServiceStub(channel)
        for _ in range(3):
            assert stub.GetVolume(volume_pb2.GetVolumeRequest(id="v"), timeout=10).host == "second"
        restarted = servers("first again", address=first.address)
        grpc.channel_ready_future(channel.channels[0]).result(timeout=10)
        assert stub.GetVolume(volume_pb2.GetVolumeRequest(id="v"), timeout=10).host == "second"
    assert restarted.received == [] and len(second.received) == 4


@pytest.mark.parametrize("behaviour", ["going away", "hang"])
def test_a_change_without_request_id_that_arrived_is_never_sent_again(servers, behaviour):
    arrived, other = servers("arrived", behaviour), servers("other")
    with volume_service(arrived.address, other.address) as stub:
        with pytest.raises(grpc.RpcError) as failed:
            stub.CreateVolume(volume_pb2.CreateVolumeRequest(size_gb=1), timeout=1)
    assert failed.value.code() in gateways.UNSETTLED
    assert len(arrived.received) == 1 and other.received == []


@pytest.mark.parametrize("behaviour", ["going away", "hang"])
def test_reads_and_changes_with_a_request_id_go_on_to_the_next_gateway(servers, behaviour):
    arrived, other = servers("arrived", behaviour), servers("other")
    request_id = str(uuid.uuid4())
    with volume_service(arrived.address, other.address) as stub:
        op = stub.CreateVolume(volume_pb2.CreateVolumeRequest(size_gb=1, request_id=request_id), timeout=1)
        assert op.name == "operations/other"
    with volume_service(arrived.address, other.address) as stub:
        assert stub.GetVolume(volume_pb2.GetVolumeRequest(id="v"), timeout=1).host == "other"
    assert [type(r) for r in arrived.received] == [type(r) for r in other.received] == [
        volume_pb2.CreateVolumeRequest, volume_pb2.GetVolumeRequest]
    assert arrived.received[0].request_id == other.received[0].request_id == request_id


def test_each_gateway_is_offered_a_call_once(servers):
    first, second = servers("first", "going away"), servers("second", "going away")
    with volume_service(first.address, second.address) as stub:
        with pytest.raises(grpc.RpcError) as failed:
            stub.GetVolume(volume_pb2.GetVolumeRequest(id="v"), timeout=5)
    # What the last gateway said is what the caller sees.
    assert failed.value.details() == "the gateway is going away"
    assert (len(first.received), len(second.received)) == (1, 1)


def test_when_no_gateway_can_be_reached_the_error_names_them_all(refused, silent, monkeypatch, capsys):
    monkeypatch.setattr(gateways, "OPTIONS", (("grpc.min_reconnect_backoff_ms", 1000),))
    monkeypatch.setenv("EMBER_URL", f"{refused},{silent}")
    monkeypatch.setenv("EMBER_TOKEN", "a-token")
    monkeypatch.delenv("EMBER_TLS_CA", raising=False)
    with pytest.raises(SystemExit) as ended:
        with client.gateway() as (channel, metadata):
            volume_pb2_grpc.VolumeServiceStub(channel).ListVolumes(volume_pb2.ListVolumesRequest(),
                                                                   metadata=metadata, timeout=10)
    assert ended.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("error: UNAVAILABLE: failed to connect")
    assert f"no gateway could be reached, tried EMBER_URL={refused}, {silent}" in error


class Recorder:
    """A stub whose every method records its request and starts an operation."""

    def __init__(self):
        self.requests = []

    def __getattr__(self, method):
        def call(request, metadata, timeout):
            self.requests.append(request)
            return operations_pb2.Operation(name=f"operations/{method}")
        return call


def test_every_change_the_cli_makes_carries_a_request_id_of_its_own(capsys):
    """So that a change whose gateway went away may be sent to the next one."""
    args = argparse.Namespace(
        size=1, name="n", description="", metadata=None, type=None, zone=None, snapshot=None, source_volume=None,
        id=str(uuid.uuid4()), cascade=False, volume=str(uuid.uuid4()), force=False, incremental=False,
        wait=False, json=False,
    )
    commands = [volumes.create, volumes.extend, volumes.delete, snapshots.create, snapshots.delete,
                backups.create, backups.delete, backups.restore]
    stub = Recorder()
    for command in [*commands, *commands]:
        command(args, stub, None, ())
    capsys.readouterr()
    request_ids = [request.request_id for request in stub.requests]
    assert len(request_ids) == 2 * len(commands) == len(set(request_ids))
    assert all(uuid.UUID(r).version == 4 for r in request_ids)
