"""The start-up sweep: what a restarted service owned in a transitional
status is resumed when an operation will finish it, and failed cleanly (with
a reason, a log line and an event) when nothing would."""

import asyncio
import uuid

import pytest

from ember import startup, states
from ember.db import Backup, Operation, Snapshot, Volume
from ember.testing import FakeBus


def volume(default_type, status, host="host-a@file#default", **fields):
    return Volume.create(id=str(uuid.uuid4()), project_id="p", user_id="u", size_gb=1, status=status, host=host,
                         volume_type=default_type, volume_type_name="default", **fields)


def operation(target, **payload):
    return Operation.create(id=str(uuid.uuid4()), project_id="p", user_id="u", verb="X", target=target,
                            task_payload=payload)


def sweep(scopes, service="test"):
    bus = FakeBus()
    outcome = asyncio.run(startup.sweep(bus, service, scopes))
    return {found.id: result for found, result in outcome}, bus.event_payloads()


@pytest.fixture
def host_a(database, default_type):
    made = {
        "creating-owned": volume(default_type, states.CREATING),
        "creating-orphan": volume(default_type, states.CREATING),
        "deleting-orphan": volume(default_type, states.DELETING),
        "extending-orphan": volume(default_type, states.EXTENDING),
        "available": volume(default_type, states.AVAILABLE),
        "other-host": volume(default_type, states.CREATING, host="host-b@file#default"),
    }
    operation(made["creating-owned"].id)
    made["snapshot-orphan"] = Snapshot.create(id=str(uuid.uuid4()), volume=made["available"], project_id="p",
                                              user_id="u", size_gb=1, status=states.CREATING)
    return made


def status(model, row):
    return model.get_by_id(row.id)


def test_a_volume_host_fails_its_orphans_and_leaves_owned_work_to_its_operation(host_a):
    outcome, published = sweep([startup.volumes_of_host("host-a"), startup.snapshots_of_host("host-a")])
    assert outcome == {
        host_a["creating-owned"].id: "resumed",
        host_a["creating-orphan"].id: states.ERROR,
        host_a["deleting-orphan"].id: states.ERROR_DELETING,
        host_a["extending-orphan"].id: states.ERROR_EXTENDING,
        host_a["snapshot-orphan"].id: states.ERROR,
    }
    assert status(Volume, host_a["creating-owned"]).status == states.CREATING
    orphan = status(Volume, host_a["creating-orphan"])
    assert orphan.status == states.ERROR and "no operation left to finish it" in orphan.status_detail
    assert status(Snapshot, host_a["snapshot-orphan"]).status == states.ERROR
    assert status(Volume, host_a["other-host"]).status == states.CREATING, "another host's volume is not touched"
    assert status(Volume, host_a["available"]).status == states.AVAILABLE
    by_id = {e["id"]: e for e in published}
    assert by_id[host_a["creating-orphan"].id] == {
        "resource": "volume", "id": host_a["creating-orphan"].id, "status": states.ERROR, "recovery": "failed",
        "was": states.CREATING,
    }
    assert by_id[host_a["creating-owned"].id]["recovery"] == "resumed"
    assert len(published) == len(outcome)


def test_a_sweep_run_twice_changes_nothing_more(host_a):
    sweep([startup.volumes_of_host("host-a")])
    outcome, published = sweep([startup.volumes_of_host("host-a")])
    assert outcome == {host_a["creating-owned"].id: "resumed"}


def test_the_backup_service_follows_cinders_rules_for_interrupted_backups_and_restores(database, default_type):
    backing_up = volume(default_type, states.BACKING_UP, previous_status=states.AVAILABLE)
    restoring = volume(default_type, states.RESTORING_BACKUP)
    creating = Backup.create(id=str(uuid.uuid4()), volume_id=backing_up.id, project_id="p", user_id="u",
                             status=states.CREATING, size_gb=1)
    restored_from = Backup.create(id=str(uuid.uuid4()), volume_id=restoring.id, project_id="p", user_id="u",
                                  status=states.RESTORING, size_gb=1)
    in_flight = Backup.create(id=str(uuid.uuid4()), volume_id=restoring.id, project_id="p", user_id="u",
                              status=states.CREATING, size_gb=1)
    operation(in_flight.id, backup_id=in_flight.id)
    outcome, _ = sweep(startup.backup_scopes(), "backup service")
    assert outcome == {
        backing_up.id: states.AVAILABLE,
        restoring.id: states.ERROR_RESTORING,
        creating.id: states.ERROR,
        restored_from.id: states.AVAILABLE,
        in_flight.id: "resumed",
    }
    assert status(Backup, creating).status_detail.startswith("backup service found it creating")


def test_a_restore_names_its_backup_and_volume_in_its_task_so_both_are_resumed(database, default_type):
    restoring = volume(default_type, states.RESTORING_BACKUP)
    backup = Backup.create(id=str(uuid.uuid4()), volume_id=restoring.id, project_id="p", user_id="u",
                           status=states.RESTORING, size_gb=1)
    operation(restoring.id, backup_id=backup.id, volume_id=restoring.id)
    outcome, _ = sweep(startup.backup_scopes())
    assert outcome == {restoring.id: "resumed", backup.id: "resumed"}


def test_the_scheduler_fails_only_unplaced_volumes(database, default_type):
    unplaced = volume(default_type, states.CREATING, host="")
    placed = volume(default_type, states.CREATING)
    outcome, _ = sweep([startup.unplaced_volumes()], "scheduler")
    assert outcome == {unplaced.id: states.ERROR}
    assert status(Volume, placed).status == states.CREATING
