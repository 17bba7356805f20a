"""Attach and detach through the gateway with a real data path: nbdkit
exports, real NBD clients writing and reading, state rules, multi-attach,
force-detach, and exports that survive and follow a service restart
(failed and abandoned attaches: test_attach_failures)."""

import json
import os
import signal

import grpc
import pytest

from ember.v1 import attachment_pb2, volume_pb2
from tests import nbd
from tests.integration.errors_util import details
from tests.integration.live_util import events_of

MIB = 1024 * 1024
NBD_ONLY = attachment_pb2.Connector(host="compute-1", ip="127.0.0.1", initiator="ember:compute-1", transports=["nbd"])


@pytest.fixture(scope="module", autouse=True)
def tools():
    nbd.require_tools()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "known.bin"
    path.write_bytes(os.urandom(64 * MIB))
    return path


def attach(client, volume_id, connector=NBD_ONLY, mode=attachment_pb2.ATTACH_MODE_RW, complete=True):
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume_id, instance_id="instance-1", connector=connector, mode=mode), timeout=60)
    if complete:
        attachment = client.call(client.volumes.CompleteAttachment,
                                 attachment_pb2.CompleteAttachmentRequest(attachment_id=attachment.id))
    return attachment


def detach(client, attachment_id):
    client.call(client.volumes.DeleteAttachment, attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment_id),
                timeout=60)


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


def volume_file(cluster, volume):
    return cluster.root / "volumes" / "file" / "default" / f"volume-{volume.id}"


def test_write_over_nbd_detach_attach_again_and_read_back(cluster, data, tmp_path):
    client = cluster.client("nbd-data")
    volume = client.create_available(1)
    reserved = attach(client, volume.id, complete=False)
    info = reserved.connection_info
    assert reserved.status == attachment_pb2.ATTACHMENT_STATUS_ATTACHING
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_ATTACHING
    assert (info.driver_volume_type, info.access_mode, info.attachment_id) == ("nbd", "rw", reserved.id)
    assert info.data["uri"] == f"nbds://127.0.0.1:{info.data['port']}/{reserved.id}"
    assert (info.data["tls"], info.data["tls_psk_identity"], len(info.data["tls_psk_key"])) == ("psk", reserved.id, 64)
    attached = client.call(client.volumes.CompleteAttachment,
                           attachment_pb2.CompleteAttachmentRequest(attachment_id=reserved.id))
    assert attached.status == attachment_pb2.ATTACHMENT_STATUS_ATTACHED and attached.attached_at.seconds
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_IN_USE

    written = nbd.write(data, info.data)
    assert written.returncode == 0, written.stderr
    detach(client, reserved.id)
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert not nbd.answers(info.data)
    assert nbd.same_start(volume_file(cluster, volume), data.read_bytes())

    again = attach(client, volume.id)
    assert again.id != reserved.id
    copy = tmp_path / "back.bin"
    nbd.read(again.connection_info.data, copy)
    assert copy.stat().st_size == 1024**3
    assert nbd.same_start(copy, data.read_bytes())
    detach(client, again.id)


def test_read_only_attachments_refuse_writes(cluster, data):
    client = cluster.client("nbd-ro")
    volume = client.create_available(1)
    rw = attach(client, volume.id)
    assert nbd.write(data, rw.connection_info.data).returncode == 0
    detach(client, rw.id)
    ro = attach(client, volume.id, mode=attachment_pb2.ATTACH_MODE_RO)
    assert ro.connection_info.access_mode == "ro" and ro.mode == attachment_pb2.ATTACH_MODE_RO
    other = data.with_name("other.bin")
    other.write_bytes(bytes(reversed(data.read_bytes()[:MIB])))
    refused = nbd.write(other, ro.connection_info.data)
    assert refused.returncode != 0
    assert nbd.answers(ro.connection_info.data)
    assert nbd.same_start(volume_file(cluster, volume), data.read_bytes())
    detach(client, ro.id)


def test_local_attachments_name_the_file_on_the_volumes_own_host(cluster):
    client = cluster.client("local")
    volume = client.create_available(1)
    local = attachment_pb2.Connector(host="host-a", transports=["local", "nbd"])
    attachment = attach(client, volume.id, connector=local)
    assert attachment.connection_info.driver_volume_type == "local"
    assert attachment.connection_info.data["device_path"] == str(volume_file(cluster, volume))
    detach(client, attachment.id)
    elsewhere = attachment_pb2.Connector(host="compute-9", transports=["local"])
    error = fails(attach, client, volume.id, connector=elsewhere)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(error)[0].reason == "NO_COMMON_TRANSPORT"
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE


def test_state_rules(cluster):
    client = cluster.client("attach-rules")
    volume = client.create_available(1)
    first = attach(client, volume.id)
    error = fails(attach, client, volume.id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "in-use" in error.details() and details(error)[0].metadata["status"] == "in-use"
    assert f"held by attachment {first.id} (instance instance-1, attached)" in error.details()
    assert details(error)[0].metadata["attachments"] == first.id
    error = fails(client.delete, volume.id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and details(error)[0].reason == "VOLUME_ATTACHED"
    detach(client, first.id)

    held = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume.id, instance_id="i-2"))
    assert held.status == attachment_pb2.ATTACHMENT_STATUS_RESERVED
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_RESERVED
    error = fails(client.call, client.volumes.CompleteAttachment,
                  attachment_pb2.CompleteAttachmentRequest(attachment_id=held.id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "reserved" in error.details()
    detach(client, held.id)
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE

    cluster.client("rules-admin", admin=True).make_type("unplaceable", is_public=True,
                                                        extra_specs={"disk_type": "unobtainium"})
    client.wait(client.create(1, volume_type="unplaceable"))
    broken = [v for v in client.call(client.volumes.ListVolumes, volume_pb2.ListVolumesRequest()).volumes
              if v.volume_type == "unplaceable"][0]
    assert broken.status == volume_pb2.VOLUME_STATUS_ERROR
    error = fails(attach, client, broken.id)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "is error" in error.details()
    missing = fails(client.call, client.volumes.GetAttachment, attachment_pb2.GetAttachmentRequest(id=first.id))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    bad = fails(client.call, client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume.id, instance_id="i", connector=attachment_pb2.Connector(host="h", transports=["iscsi"])))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_other_projects_cannot_touch_attachments(cluster):
    owner, other = cluster.client("att-owner"), cluster.client("att-other")
    volume = owner.create_available(1)
    attachment = attach(owner, volume.id)
    for call in (
        lambda: other.call(other.volumes.GetAttachment, attachment_pb2.GetAttachmentRequest(id=attachment.id)),
        lambda: detach(other, attachment.id),
        lambda: attach(other, volume.id),
    ):
        assert fails(call).code() == grpc.StatusCode.NOT_FOUND
    assert fails(other.call, other.volumes.ForceDetach,
                 attachment_pb2.ForceDetachRequest(attachment_id=attachment.id)).code() == grpc.StatusCode.PERMISSION_DENIED
    listed = owner.call(owner.volumes.ListAttachments, attachment_pb2.ListAttachmentsRequest(volume_id=volume.id))
    assert [a.id for a in listed.attachments] == [attachment.id]
    assert not other.call(other.volumes.ListAttachments, attachment_pb2.ListAttachmentsRequest()).attachments
    detach(owner, attachment.id)


def test_multi_attach_only_for_types_that_allow_it(cluster):
    admin = cluster.client("multi", admin=True)
    admin.make_type("shared", is_public=True, extra_specs={"multiattach": "<is> True"})
    volume = admin.create_available(1, volume_type="shared")
    assert volume.multiattach
    one, two = attach(admin, volume.id), attach(admin, volume.id)
    assert admin.get(volume.id).status == volume_pb2.VOLUME_STATUS_IN_USE
    assert one.connection_info.data["uri"] != two.connection_info.data["uri"]
    detach(admin, one.id)
    assert admin.get(volume.id).status == volume_pb2.VOLUME_STATUS_IN_USE
    assert nbd.answers(two.connection_info.data)
    detach(admin, two.id)
    assert admin.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE


def test_admin_force_detach_removes_export_and_record(cluster):
    admin, user = cluster.client("ops", admin=True), cluster.client("forced")
    volume = user.create_available(1)
    attachment = attach(user, volume.id)
    export = attachment.connection_info.data
    admin.call(admin.volumes.ForceDetach, attachment_pb2.ForceDetachRequest(attachment_id=attachment.id))
    assert not nbd.answers(export)
    assert fails(user.call, user.volumes.GetAttachment,
                 attachment_pb2.GetAttachmentRequest(id=attachment.id)).code() == grpc.StatusCode.NOT_FOUND
    assert user.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE


def nbdkit_pid(root, attachment_id) -> int:
    return int((root / "exports" / f"{attachment_id}.pid").read_text())


def test_restart_brings_back_dead_exports_and_stops_orphans(fresh_cluster, data):
    c = fresh_cluster
    host_a = c.start_two_hosts()
    client, admin = c.client(), c.client("ops", admin=True)
    kept_volume, orphan_volume = client.create_available(1), client.create_available(1)
    assert kept_volume.host.startswith("host-a@") and orphan_volume.host.startswith("host-a@")
    kept, orphan = attach(client, kept_volume.id), attach(client, orphan_volume.id)
    assert nbd.write(data, kept.connection_info.data).returncode == 0

    host_a.stop()
    assert nbd.answers(kept.connection_info.data), "exports outlive the control plane"
    os.kill(nbdkit_pid(c.root, kept.id), signal.SIGKILL)
    # With host-a away, another instance drops the record; the export lingers.
    admin.call(admin.volumes.ForceDetach, attachment_pb2.ForceDetachRequest(attachment_id=orphan.id))
    assert nbd.answers(orphan.connection_info.data)

    c.start("volume")
    assert nbd.answers(kept.connection_info.data), "the dead export came back on its port"
    assert not nbd.answers(orphan.connection_info.data)
    assert sorted(p.stem for p in (c.root / "exports").glob("*.json")) == [kept.id]
    back = c.root / "back.bin"
    nbd.read(kept.connection_info.data, back)
    assert nbd.same_start(back, data.read_bytes())
    detach(client, kept.id)


def test_volume_service_killed_while_detaching_finishes_the_detach_after_restart(fresh_cluster):
    c = fresh_cluster
    first = c.start_two_hosts()
    client = c.client()
    volume = client.create_available(1)
    first.stop()
    dying = c.start("volume", EMBER_FAILPOINTS="volume.detach.after_unexport=exit")
    attachment = attach(client, volume.id)
    with pytest.raises(grpc.RpcError):
        detach(client, attachment.id)
    assert dying.popen.wait(timeout=30) == 17
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_DETACHING
    c.start("volume")
    assert fails(client.call, client.volumes.GetAttachment,
                 attachment_pb2.GetAttachmentRequest(id=attachment.id)).code() == grpc.StatusCode.NOT_FOUND
    assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
    assert not nbd.answers(attachment.connection_info.data)


def test_the_exports_secret_goes_to_its_project_only_and_never_into_events_or_logs(cluster, data):
    owner, other = cluster.client("psk-owner"), cluster.client("psk-other")
    volume = owner.create_available(1)
    attachment = attach(owner, volume.id)
    export = attachment.connection_info.data
    key = export["tls_psk_key"]
    assert nbd.write(data, export).returncode == 0
    assert not nbd.answers(export["uri"]), "the export answered a client without its secret"
    shown = owner.call(owner.volumes.GetAttachment, attachment_pb2.GetAttachmentRequest(id=attachment.id))
    assert shown.connection_info.data["tls_psk_key"] == key
    assert fails(other.call, other.volumes.GetAttachment,
                 attachment_pb2.GetAttachmentRequest(id=attachment.id)).code() == grpc.StatusCode.NOT_FOUND
    assert not other.call(other.volumes.ListAttachments, attachment_pb2.ListAttachmentsRequest()).attachments
    nbdkit_logs = list((cluster.root / "exports").glob(f"{attachment.id}.log"))
    assert nbdkit_logs and all(key not in log.read_text() for log in nbdkit_logs)
    detach(owner, attachment.id)
    assert not nbd.answers(export), "the secret outlived the detach"

    events = events_of(cluster, "*", "*")
    assert any(e.get("id") == volume.id for e in events), "the events of the attach were read"
    assert key not in json.dumps(events)
    for process in cluster.processes:
        assert key not in process.log(), process.name
