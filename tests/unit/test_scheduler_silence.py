"""A scheduler that has heard from no pool lately (every storage host down,
or the bus electing leaders after a NATS host was lost) waits for reports
before it fails a create or an extend; on the task's last delivery it
fails it with each pool's reason, as it always did."""

import time
import uuid

import pytest

from ember import states, subjects, testing, volumes, writer
from ember.auth import Identity
from ember.db import Operation, Volume, VolumeType
from scheduler.pool_view import PoolView
from scheduler.tasks import SchedulerTasks
from volume import extend

ALICE = Identity("alice", "alice")
LIMITS = {"volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10, "backup_gigabytes": 100}
CREATE, EXTEND = subjects.scheduler_task("create"), subjects.scheduler_task("extend")
DOWN_AFTER = 60.0


class FakeMirror:
    def __init__(self):
        self.entries = {}


def report(name: str, age: float) -> dict:
    host, _, rest = name.partition("@")
    return {
        "name": name, "host": host, "backend": rest.partition("#")[0], "pool": rest.partition("#")[2],
        "total_capacity_gb": 1000, "free_capacity_gb": 1000, "provisioned_capacity_gb": 0,
        "max_over_subscription_ratio": 1, "thin_provisioning_support": True, "ts": time.time() - age,
        "availability_zone": "z1",
    }


@pytest.fixture
def scheduler(database, tmp_path):
    writer.start()
    view = PoolView(service_down_after=DOWN_AFTER)
    view.mirror = FakeMirror()
    return testing.build(SchedulerTasks, view=view, settings=testing.make_settings(tmp_path))


def reporting(scheduler: SchedulerTasks, *reports: dict) -> None:
    scheduler.view.mirror.entries.update({r["name"]: r for r in reports})


def creating() -> dict:
    return volumes.create_volume(ALICE, volumes.NewVolume(size_gb=1), LIMITS, 30.0).task.payload


async def test_a_create_waits_while_no_pool_has_reported_lately(scheduler):
    reporting(scheduler, report("host-a@file#p", DOWN_AFTER + 5), report("host-b@file#p", DOWN_AFTER + 9))
    p = creating()
    delivered = await testing.deliver(scheduler, CREATE, p, attempt=1)
    assert delivered.outcome.kind == "retry" and delivered.outcome.delay > 0
    assert not Operation.get_by_id(p["operation_id"]).done
    assert Volume.get_by_id(p["volume_id"]).status == states.CREATING
    assert not scheduler.bus.tasks

    # Reports again (the bus is back): the next delivery places it.
    reporting(scheduler, report("host-a@file#p", 0))
    assert (await testing.deliver(scheduler, CREATE, p, attempt=2)).outcome.acked
    (placed,) = scheduler.bus.tasks
    assert placed.subject == subjects.volume_task("host-a", "create")


async def test_the_last_delivery_fails_the_create_with_each_pools_reason(scheduler):
    reporting(scheduler, report("host-a@file#p", DOWN_AFTER + 5))
    p = creating()
    assert (await testing.deliver(scheduler, CREATE, p, attempt=testing.MAX_DELIVER)).outcome.acked
    op = Operation.get_by_id(p["operation_id"])
    assert op.error_reason == "NO_VALID_BACKEND" and "host-a@file#p: no report for" in op.error_message
    assert Volume.get_by_id(p["volume_id"]).status == states.ERROR


async def test_a_create_fails_at_once_when_a_pool_that_reports_cannot_take_it(scheduler):
    reporting(scheduler, report("host-a@file#p", DOWN_AFTER + 5), dict(report("host-b@file#p", 0), availability_zone="z2"))
    p = volumes.create_volume(ALICE, volumes.NewVolume(size_gb=1, availability_zone="z1"), LIMITS, 30.0).task.payload
    assert (await testing.deliver(scheduler, CREATE, p, attempt=1)).outcome.acked
    op = Operation.get_by_id(p["operation_id"])
    assert op.error_reason == "NO_VALID_BACKEND" and "host-a@file#p: no report for" in op.error_message


async def test_an_extend_waits_while_its_pool_has_not_reported_lately(scheduler):
    reporting(scheduler, report("host-a@file#p", DOWN_AFTER + 5))
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    volume = Volume.create(id=str(uuid.uuid4()), project_id="alice", user_id="alice", size_gb=10,
                           status=states.AVAILABLE, host="host-a@file#p", volume_type=default.id,
                           volume_type_name=default.name)
    begun = extend.extend_volume(ALICE, volume.id, 20, "", LIMITS, 30.0)
    assert (await testing.deliver(scheduler, EXTEND, begun.task.payload, attempt=1)).outcome.kind == "retry"
    assert not Operation.get_by_id(begun.operation.id).done
    assert Volume.get_by_id(volume.id).status == states.EXTENDING
