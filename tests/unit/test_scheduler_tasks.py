"""The scheduler's task handlers on a real PoolView fed with capacity
reports: a create goes to the one pool that fits, a volume no pool fits (or
that ran out of tries) fails with every reason, an extend needs room on the
volume's own pool."""

import time
import uuid

import pytest

from ember import quota, states, subjects, testing, volumes, writer
from ember.auth import Identity
from ember.bus import Outcome
from ember.db import Operation, Volume, VolumeType
from scheduler.pool_view import PoolView
from scheduler.tasks import SchedulerTasks
from volume import extend

ALICE = Identity("alice", "alice")
LIMITS = {"volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10, "backup_gigabytes": 100}
CREATE, EXTEND = subjects.scheduler_task("create"), subjects.scheduler_task("extend")


class FakeMirror:
    """The capabilities bucket as the view mirrors it: report by pool name."""

    def __init__(self):
        self.entries = {}


def report(name: str, total_gb: float, zone: str = "z1", age: float = 0.0, provisioned_gb: float = 0.0) -> dict:
    """A healthy thin pool's report, without over-subscription."""
    host, _, rest = name.partition("@")
    return {
        "name": name, "host": host, "backend": rest.partition("#")[0], "pool": rest.partition("#")[2],
        "total_capacity_gb": total_gb, "free_capacity_gb": total_gb, "provisioned_capacity_gb": provisioned_gb,
        "max_over_subscription_ratio": 1, "thin_provisioning_support": True, "ts": time.time() - age,
        "availability_zone": zone,
    }


@pytest.fixture
def scheduler(database, tmp_path):
    writer.start()
    view = PoolView(service_down_after=60.0)
    view.mirror = FakeMirror()
    return testing.build(SchedulerTasks, view=view, settings=testing.make_settings(tmp_path))


def reporting(scheduler: SchedulerTasks, *reports: dict) -> None:
    scheduler.view.mirror.entries.update({r["name"]: r for r in reports})


def creating(size_gb: int, zone: str = "") -> dict:
    return volumes.create_volume(ALICE, volumes.NewVolume(size_gb=size_gb, availability_zone=zone), LIMITS,
                                 30.0).task.payload


async def test_a_create_goes_to_the_only_pool_that_fits(scheduler):
    reporting(scheduler, report("host-a@file#p", 60), report("host-b@file#p", 1000, zone="z2"),
              report("host-c@file#p", 1000, age=120))
    p = creating(50, zone="z1")
    assert (await testing.deliver(scheduler, CREATE, p)).outcome == Outcome("ok")
    (placed,) = scheduler.bus.tasks
    assert (placed.subject, placed.msg_id) == (subjects.volume_task("host-a", "create"), f"{p['operation_id']}.place0")
    assert placed.payload == dict(p, pool="host-a@file#p")
    op = Operation.get_by_id(p["operation_id"])
    assert (op.task_subject, op.task_msg_id) == (placed.subject, placed.msg_id), "the outbox follows the task"
    pools = {pool.name: pool for pool in scheduler.view.all_pools()}
    assert pools["host-a@file#p"].provisioned_capacity_gb == 50, "counted until the pool reports it"


async def test_a_volume_no_pool_fits_fails_with_each_pools_reason(scheduler):
    reporting(scheduler, report("host-a@file#p", 10), report("host-b@file#p", 20))
    p = creating(50)
    assert (await testing.deliver(scheduler, CREATE, p)).outcome == Outcome("ok")
    op = Operation.get_by_id(p["operation_id"])
    assert op.done and op.error_reason == "NO_VALID_BACKEND"
    assert "host-a@file#p: 50 GiB would over-subscribe it" in op.error_message
    assert "host-b@file#p: 50 GiB would over-subscribe it" in op.error_message
    assert Volume.get_by_id(p["volume_id"]).status == states.ERROR
    assert scheduler.bus.statuses("volumes", p["volume_id"]) == [states.ERROR]
    assert not scheduler.bus.tasks


async def test_a_volume_that_was_tried_too_often_fails_even_with_room_left(scheduler):
    reporting(scheduler, report("host-a@file#p", 1000))
    tried = ["host-b@file#p", "host-c@file#p", "host-d@file#p"]
    assert len(tried) == scheduler.settings.scheduler_max_attempts
    p = dict(creating(1), tried=tried, errors=[f"{pool}: disk full" for pool in tried])
    assert (await testing.deliver(scheduler, CREATE, p)).outcome.acked
    op = Operation.get_by_id(p["operation_id"])
    assert op.error_reason == "NO_VALID_BACKEND"
    assert op.error_message.startswith("gave up after 3 attempts: host-b@file#p: disk full; ")
    assert not scheduler.bus.tasks


async def test_a_create_is_not_sent_back_to_a_pool_it_failed_on(scheduler):
    reporting(scheduler, report("host-a@file#p", 1000), report("host-b@file#p", 100))
    p = dict(creating(1), tried=["host-a@file#p"], errors=["host-a@file#p: disk full"])
    await testing.deliver(scheduler, CREATE, p)
    (placed,) = scheduler.bus.tasks
    assert placed.subject == subjects.volume_task("host-b", "create") and placed.msg_id.endswith(".place1")


def available_volume(size_gb: int, host: str = "host-a@file#p") -> str:
    default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
    volume = Volume.create(id=str(uuid.uuid4()), project_id="alice", user_id="alice", size_gb=size_gb, status=states.AVAILABLE, host=host,
                           volume_type=default.id, volume_type_name=default.name)
    return volume.id


async def test_an_extend_without_room_on_its_pool_puts_the_volume_back(scheduler):
    reporting(scheduler, report("host-a@file#p", 30, provisioned_gb=10), report("host-b@file#p", 1000))
    volume_id = available_volume(10)
    begun = extend.extend_volume(ALICE, volume_id, 40, "", LIMITS, 30.0)
    assert quota.usage("alice")["gigabytes"] == 30
    assert (await testing.deliver(scheduler, EXTEND, begun.task.payload)).outcome.acked
    op = Operation.get_by_id(begun.operation.id)
    assert op.error_reason == "NO_ROOM_TO_EXTEND" and "host-a@file#p: 30 GiB would over-subscribe" in op.error_message
    volume = Volume.get_by_id(volume_id)
    assert (volume.status, volume.size_gb) == (states.AVAILABLE, 10), "back where it was, not in error"
    assert quota.usage("alice")["gigabytes"] == 0
    assert not scheduler.bus.tasks, "never moved to a pool with room"


async def test_an_extend_of_a_pool_that_never_reported_says_so(scheduler):
    volume_id = available_volume(10, host="host-z@file#p")
    begun = extend.extend_volume(ALICE, volume_id, 20, "", LIMITS, 30.0)
    await testing.deliver(scheduler, EXTEND, begun.task.payload)
    op = Operation.get_by_id(begun.operation.id)
    assert op.error_reason == "NO_ROOM_TO_EXTEND"
    assert "pool host-z@file#p has not reported its capacity" in op.error_message


async def test_an_extend_with_room_goes_to_the_volumes_host(scheduler):
    reporting(scheduler, report("host-a@file#p", 100))
    volume_id = available_volume(10)
    begun = extend.extend_volume(ALICE, volume_id, 40, "", LIMITS, 30.0)
    assert (await testing.deliver(scheduler, EXTEND, begun.task.payload)).outcome.acked
    (forwarded,) = scheduler.bus.tasks
    assert (forwarded.subject, forwarded.msg_id) == (subjects.volume_task("host-a", "extend"),
                                                     f"{begun.operation.id}.extend")
    assert forwarded.payload["new_size_gb"] == 40 and not Operation.get_by_id(begun.operation.id).done
