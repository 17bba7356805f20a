"""`ember instance run` interrupted while it attaches gives back the
attachment it reserved, even when the interrupted call's answer (and so the
attachment's id) never reached it, leaves other attachments alone, and
says where to look when it cannot list them."""

import argparse
import uuid

import grpc
import pytest

from ember.cli import instance
from ember.cli.client import CliError
from ember.v1 import attachment_pb2, volume_pb2, volume_pb2_grpc

VOLUME = str(uuid.uuid4())


class Volumes:
    """VolumeService's attachment calls over a dict. The call named
    `interrupt_in` takes effect and then raises KeyboardInterrupt, as a
    Ctrl-C arriving before its answer would; with gateway_gone_after_interrupt,
    listing fails from then on."""

    def __init__(self, device, interrupt_in: str):
        self.device, self.interrupt_in = device, interrupt_in
        self.gateway_gone_after_interrupt = False
        self.attachments = {"held-before": attachment_pb2.Attachment(
            id="held-before", volume_id=VOLUME, instance_id="vm-1",
            status=attachment_pb2.ATTACHMENT_STATUS_ATTACHED)}

    def _answer(self, call: str, answer):
        if call == self.interrupt_in:
            self.interrupt_in = "done"
            raise KeyboardInterrupt
        return answer

    def GetVolume(self, request, metadata, timeout):
        return self._answer("GetVolume", volume_pb2.Volume(id=request.id, multiattach=True))

    def ListAttachments(self, request, metadata, timeout):
        if self.gateway_gone_after_interrupt and self.interrupt_in == "done":
            raise Unavailable()
        found = [a for a in self.attachments.values() if a.volume_id == request.volume_id]
        return attachment_pb2.ListAttachmentsResponse(attachments=found)

    def CreateAttachment(self, request, metadata, timeout):
        made = attachment_pb2.Attachment(
            id=f"att-{len(self.attachments)}", volume_id=request.volume_id, instance_id=request.instance_id,
            status=attachment_pb2.ATTACHMENT_STATUS_RESERVED,
            connection_info=attachment_pb2.ConnectionInfo(
                driver_volume_type="local", data={"device_path": str(self.device)}, access_mode="rw"))
        self.attachments[made.id] = made
        return self._answer("CreateAttachment", made)

    def CompleteAttachment(self, request, metadata, timeout):
        done = self.attachments[request.attachment_id]
        done.status = attachment_pb2.ATTACHMENT_STATUS_ATTACHED
        return self._answer("CompleteAttachment", done)

    def DeleteAttachment(self, request, metadata, timeout):
        del self.attachments[request.attachment_id]
        return attachment_pb2.DeleteAttachmentResponse()


class Unavailable(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "the gateway went away"

    def trailing_metadata(self):
        return ()


def start(monkeypatch, tmp_path, interrupt_in: str) -> tuple[Volumes, argparse.Namespace]:
    device = tmp_path / "volume"
    device.write_bytes(b"\0" * 4096)
    volumes = Volumes(device, interrupt_in)
    monkeypatch.setattr(instance, "_image", lambda args: None)
    monkeypatch.setattr(instance, "connect", lambda: (None, ()))
    monkeypatch.setattr(volume_pb2_grpc, "VolumeServiceStub", lambda channel: volumes)
    args = argparse.Namespace(volume=VOLUME, instance="vm-1", read_only=False, host="compute-1", ip="127.0.0.1",
                              transport=None, memory=256, accel="tcg", timeout=60.0, data_dir=str(tmp_path),
                              command="true")
    return volumes, args


def run_interrupted(monkeypatch, tmp_path, interrupt_in: str) -> Volumes:
    volumes, args = start(monkeypatch, tmp_path, interrupt_in)
    with pytest.raises(SystemExit) as ended:
        instance.run(args)
    assert ended.value.code == instance.INTERRUPTED
    return volumes


@pytest.mark.parametrize("interrupt_in", ["CreateAttachment", "CompleteAttachment"])
def test_an_attachment_reserved_before_the_interrupt_is_given_back(monkeypatch, tmp_path, capsys, interrupt_in):
    volumes = run_interrupted(monkeypatch, tmp_path, interrupt_in)
    assert list(volumes.attachments) == ["held-before"], "the instance's earlier attachment stays"
    assert "interrupted while attaching; nothing left attached" in capsys.readouterr().err


def test_an_interrupt_before_anything_was_reserved_changes_nothing(monkeypatch, tmp_path):
    volumes = run_interrupted(monkeypatch, tmp_path, "GetVolume")
    assert list(volumes.attachments) == ["held-before"]


def test_a_give_back_that_cannot_list_says_where_to_look(monkeypatch, tmp_path, capsys):
    volumes, args = start(monkeypatch, tmp_path, "CreateAttachment")
    volumes.gateway_gone_after_interrupt = True
    with pytest.raises(CliError):
        instance.run(args)
    error = capsys.readouterr().err
    assert f"could not look for the attachment it may have made; see `ember attachment list --volume {VOLUME}`" in error
    assert "UNAVAILABLE: the gateway went away" in error
