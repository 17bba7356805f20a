"""The volume service as the runtime sees it: its API servicers (volumes,
volume types, quotas), its host's task consumer and backends, its capacity
reporter, the keeper of its attachments and the outbox reconciler."""

from __future__ import annotations

from ember import addresses, kv, startup, subjects, volume_tasks
from ember.db import Operation
from ember.errors import EmberError
from ember.outbox import RECONCILE_EVERY, Reconciler
from ember.runtime import Runtime
from ember.v1 import quota_pb2_grpc, snapshot_pb2_grpc, volume_host_pb2_grpc, volume_pb2_grpc, volume_type_pb2_grpc
from ember.lifecycle import Part, Step
from ember.periodic import Periodic
from volume.api import VolumeApi
from volume.attachment_api import AttachmentApi
from volume.attachment_keeper import UPKEEP_EVERY, AttachmentKeeper
from volume.backends import Backends
from volume.exports import Exports
from volume.host_api import VolumeHostApi
from volume.host_tasks import HostTasks
from volume.quota_api import QuotaApi
from volume.recovery import recover_attachments
from volume.reporter import CapacityReporter
from volume.snapshot_api import SnapshotApi
from volume.targets.nbd import NbdTarget
from volume.types_api import VolumeTypeApi


class VolumeService:
    name = "volume"
    # Servers besides gRPC and metrics whose address other hosts are told.
    advertises = ("nbd",)

    def __init__(self, runtime: Runtime):
        settings = runtime.settings
        self.runtime = runtime
        self.backends = Backends(settings)
        self.reports: kv.KvMirror | None = None
        nbd = NbdTarget(settings.data_path / "exports", settings.nbd_listen,
                        addresses.advertised("nbd_advertise", settings.nbd_listen, settings.nbd_advertise,
                                             settings.nats_url), settings.nbdkit, tls=settings.nbd_tls)
        self.exports = Exports(settings.host, self.backends, nbd)
        self.keeper = AttachmentKeeper(settings.host, self.exports, runtime.bus, settings.attachment_reserve_timeout,
                                       settings.export_retry_max)
        self.registry_extra = {"nbd": nbd.advertise}
        attachments = AttachmentApi(settings.host, runtime.bus, runtime.secret, self.exports, self.keeper)
        self.api = VolumeApi(settings, runtime.bus, runtime.secret, self.known_zones, attachments)
        self.types = VolumeTypeApi(runtime.secret)
        self.snapshots = SnapshotApi(settings, runtime.bus, runtime.secret)
        self.host_api = VolumeHostApi(settings.host, self.backends, self.exports)
        self.quotas = QuotaApi(settings)
        self.reporter = CapacityReporter(settings, self.backends)
        self.reconciler = Reconciler(
            runtime.bus, settings.outbox_retry_after, settings.task_deadline, self._expire
        )
        self.tasks = HostTasks(runtime.bus, self.backends, self.reporter, settings.availability_zone,
                               settings.outbox_retry_after)

    def servicers(self):
        return [
            (volume_pb2_grpc.add_VolumeServiceServicer_to_server, self.api, "ember.v1.VolumeService"),
            (volume_type_pb2_grpc.add_VolumeTypeServiceServicer_to_server, self.types, "ember.v1.VolumeTypeService"),
            (quota_pb2_grpc.add_QuotaServiceServicer_to_server, self.quotas, "ember.v1.QuotaService"),
            (snapshot_pb2_grpc.add_SnapshotServiceServicer_to_server, self.snapshots, "ember.v1.SnapshotService"),
            (volume_host_pb2_grpc.add_VolumeHostServiceServicer_to_server, self.host_api, "ember.v1.VolumeHostService"),
        ]

    def known_zones(self) -> set[str]:
        """Every zone a storage pool has reported, up or not."""
        entries = self.reports.entries.values() if self.reports else ()
        return {e["availability_zone"] for e in entries if e.get("availability_zone")}

    def parts(self) -> list[Part]:
        runtime, s = self.runtime, self.runtime.settings
        return [
            Step("attachment recovery", on_start=lambda: recover_attachments(s.host, self.exports, self.keeper)),
            Periodic(f"attachment upkeep of {s.host}", UPKEEP_EVERY, self.keeper.run_once),
            Step("start-up sweep", on_start=lambda: startup.sweep(
                runtime.bus, f"volume service of {s.host}",
                [startup.volumes_of_host(s.host), startup.snapshots_of_host(s.host)])),
            runtime.consumer(subjects.volume_tasks(s.host), subjects.volume_durable(s.host), self.tasks),
            Step("capacity reports", on_start=lambda: self.reporter.start(runtime.bus.js), on_stop=self.reporter.stop),
            Step("mirror of capacity reports", on_start=self._mirror_reports, on_stop=self._stop_mirror),
            Periodic("outbox reconciliation", RECONCILE_EVERY, self.reconciler.run_once),
        ]

    async def _mirror_reports(self) -> None:
        self.reports = kv.KvMirror(await kv.open_bucket(self.runtime.bus.js, subjects.CAPABILITIES_BUCKET, ttl=None))
        await self.reports.start()

    async def _stop_mirror(self) -> None:
        if self.reports:
            await self.reports.stop()

    async def _expire(self, row: Operation) -> None:
        payload = row.task_payload
        error = EmberError(
            f"{payload['verb']} did not finish within {self.runtime.settings.task_deadline:.0f}s "
            f"(last sent to {row.task_subject})",
            "TASK_DEADLINE_EXCEEDED",
        )
        await volume_tasks.fail(self.runtime.bus, row.id, payload, error)
