"""`ember instance run` interrupted while it attaches gives back the
attachment it reserved, even when the interrupted call's answer (and so the
attachment's id) never reached it, by asking again under the call's
request_id; it leaves other attachments alone, and says where to look when
it cannot ask."""

import argparse
import contextlib
import uuid

import grpc
import pytest

from cli import instance
from cli.client import CliError
from ember.errors import EmberError, FailedPrecondition, Unavailable
from ember.v1 import attachment_pb2, volume_pb2, volume_pb2_grpc

VOLUME = str(uuid.uuid4())


class Refused(grpc.RpcError):
    """What a gRPC client raises for an error status, rich details included."""

    def __init__(self, error: EmberError):
        self.status = error.to_status()

    def code(self):
        return self.status.code

    def details(self):
        return self.status.details

    def trailing_metadata(self):
        return self.status.trailing_metadata


class Volumes:
    """VolumeService's attachment calls over a dict, with request_id replays
    as the service answers them. The call named `interrupt_in` takes effect
    and then raises KeyboardInterrupt, as a Ctrl-C arriving before its answer
    would; `lost_on_the_way` interrupts CreateAttachment before it arrives;
    `export_fails` makes CreateAttachment fail the way a failed export does;
    with `gateway_gone_after_interrupt`, every call fails from then on."""

    def __init__(self, device, interrupt_in: str):
        self.device, self.interrupt_in = device, interrupt_in
        self.lost_on_the_way = self.export_fails = self.gateway_gone_after_interrupt = False
        self.requests: dict[str, str | EmberError] = {}
        self.creates = 0
        self.attachments = {"held-before": attachment_pb2.Attachment(
            id="held-before", volume_id=VOLUME, instance_id="vm-1",
            status=attachment_pb2.ATTACHMENT_STATUS_ATTACHED)}

    def _answer(self, call: str, answer):
        if call == self.interrupt_in:
            self.interrupt_in = "done"
            raise KeyboardInterrupt
        return answer

    def _reachable(self):
        if self.gateway_gone_after_interrupt and self.interrupt_in == "done":
            raise Refused(Unavailable("the gateway went away"))

    def GetVolume(self, request, metadata, timeout):
        return self._answer("GetVolume", volume_pb2.Volume(id=request.id, multiattach=True))

    def CreateAttachment(self, request, metadata, timeout):
        self._reachable()
        if self.lost_on_the_way and self.interrupt_in == "CreateAttachment":
            self.interrupt_in = "done"
            raise KeyboardInterrupt
        earlier = self.requests.get(request.request_id)
        if isinstance(earlier, EmberError):
            raise Refused(earlier)
        if earlier is not None:
            if earlier not in self.attachments:
                raise Refused(FailedPrecondition("deleted since", "ATTACHMENT_DELETED"))
            return self.attachments[earlier]
        self.creates += 1
        if self.export_fails:
            self.requests[request.request_id] = Unavailable("could not export", "EXPORT_FAILED")
            return self._answer("CreateAttachment", None)
        made = attachment_pb2.Attachment(
            id=f"att-{self.creates}", volume_id=request.volume_id, instance_id=request.instance_id,
            status=attachment_pb2.ATTACHMENT_STATUS_RESERVED, mode=request.mode,
            connection_info=attachment_pb2.ConnectionInfo(
                driver_volume_type="local", data={"device_path": str(self.device)}, access_mode="rw"))
        self.attachments[made.id] = made
        self.requests[request.request_id] = made.id
        return self._answer("CreateAttachment", made)

    def CompleteAttachment(self, request, metadata, timeout):
        done = self.attachments[request.attachment_id]
        done.status = attachment_pb2.ATTACHMENT_STATUS_ATTACHED
        return self._answer("CompleteAttachment", done)

    def DeleteAttachment(self, request, metadata, timeout):
        self._reachable()
        del self.attachments[request.attachment_id]
        return attachment_pb2.DeleteAttachmentResponse()


def start(monkeypatch, tmp_path, interrupt_in: str) -> tuple[Volumes, argparse.Namespace]:
    device = tmp_path / "volume"
    device.write_bytes(b"\0" * 4096)
    volumes = Volumes(device, interrupt_in)
    monkeypatch.setattr(instance, "_image", lambda args: None)
    monkeypatch.setattr(instance, "gateway", lambda: contextlib.nullcontext((None, ())))
    monkeypatch.setattr(volume_pb2_grpc, "VolumeServiceStub", lambda channel: volumes)
    args = argparse.Namespace(volume=VOLUME, instance="vm-1", read_only=False, host="compute-1", ip="127.0.0.1",
                              transport=None, memory=256, accel="tcg", timeout=60.0, data_dir=str(tmp_path),
                              command="true")
    return volumes, args


def run(volumes, args) -> None:
    with pytest.raises(SystemExit) as ended:
        instance.run(args)
    assert ended.value.code == instance.INTERRUPTED


@pytest.mark.parametrize("interrupt_in", ["CreateAttachment", "CompleteAttachment"])
def test_an_attachment_reserved_before_the_interrupt_is_given_back(monkeypatch, tmp_path, capsys, interrupt_in):
    volumes, args = start(monkeypatch, tmp_path, interrupt_in)
    run(volumes, args)
    assert list(volumes.attachments) == ["held-before"], "the instance's earlier attachment stays"
    assert volumes.creates == 1, "asked for again, not made twice"
    assert "interrupted while attaching; nothing left attached" in capsys.readouterr().err


def test_a_call_interrupted_before_it_arrived_is_given_back_too(monkeypatch, tmp_path):
    volumes, args = start(monkeypatch, tmp_path, "CreateAttachment")
    volumes.lost_on_the_way = True
    run(volumes, args)
    assert list(volumes.attachments) == ["held-before"]


def test_a_call_that_failed_holds_nothing_to_give_back(monkeypatch, tmp_path, capsys):
    volumes, args = start(monkeypatch, tmp_path, "CreateAttachment")
    volumes.export_fails = True
    run(volumes, args)
    assert list(volumes.attachments) == ["held-before"] and volumes.creates == 1
    assert "nothing left attached" in capsys.readouterr().err


def test_an_interrupt_before_anything_was_reserved_changes_nothing(monkeypatch, tmp_path):
    volumes, args = start(monkeypatch, tmp_path, "GetVolume")
    run(volumes, args)
    assert list(volumes.attachments) == ["held-before"] and volumes.creates == 0


def test_a_give_back_that_cannot_ask_says_where_to_look(monkeypatch, tmp_path, capsys):
    volumes, args = start(monkeypatch, tmp_path, "CreateAttachment")
    volumes.gateway_gone_after_interrupt = True
    with pytest.raises(CliError):
        instance.run(args)
    error = capsys.readouterr().err
    assert f"could not ask for the attachment it may have made; see `ember attachment list --volume {VOLUME}`" in error
    assert "UNAVAILABLE: the gateway went away" in error
