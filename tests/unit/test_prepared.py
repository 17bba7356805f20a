"""Compiled statements bind fresh values on every run, with each field's
conversions, and an insert takes its defaults at each run."""

import datetime
import time

from ember.db import Operation, Volume
from ember.prepared import Param, Prepared, PreparedInsert, params_for

INSERT = PreparedInsert(Volume)
BY_PROJECT = Prepared(lambda: Volume.select().where(Volume.project_id == Param("project")).order_by(Volume.id))
RENAME = Prepared(lambda: Volume.update(params_for([Volume.name, Volume.metadata])).where(Volume.id == Param("id")))


def test_insert_and_select_round_trip_converted_values(database, default_type):
    INSERT.execute(id="v1", project_id="p", user_id="u", size_gb=3, status="available", volume_type=default_type, volume_type_name="default", metadata={"k": "v"})
    INSERT.execute(id="v2", project_id="p", user_id="u", size_gb=5, status="creating", volume_type=default_type, volume_type_name="default")
    INSERT.execute(id="v3", project_id="q", user_id="u", size_gb=1, status="creating", volume_type=default_type, volume_type_name="default")
    rows = BY_PROJECT.rows(project="p")
    assert [(r.id, r.size_gb, r.status, r.metadata) for r in rows] == [
        ("v1", 3, "available", {"k": "v"}),
        ("v2", 5, "creating", {}),
    ]
    assert isinstance(rows[0].created_at, datetime.datetime)
    assert BY_PROJECT.first(project="nobody") is None


def test_insert_defaults_are_taken_at_each_run(database, default_type):
    INSERT.execute(id="v1", project_id="p", user_id="u", size_gb=1, status="available", volume_type=default_type, volume_type_name="default")
    time.sleep(0.01)
    INSERT.execute(id="v2", project_id="p", user_id="u", size_gb=1, status="available", volume_type=default_type, volume_type_name="default")
    first, second = BY_PROJECT.rows(project="p")
    assert second.created_at > first.created_at


def test_update_binds_new_values_each_time(database, default_type):
    INSERT.execute(id="v1", project_id="p", user_id="u", size_gb=1, status="available", volume_type=default_type, volume_type_name="default")
    assert RENAME.execute(id="v1", name="one", metadata={"a": "1"}) == 1
    assert RENAME.execute(id="missing", name="x", metadata={}) == 0
    row = Volume.get_by_id("v1")
    assert (row.name, row.metadata) == ("one", {"a": "1"})


def test_constants_in_the_query_stay_constants(database, default_type):
    pending = Prepared(lambda: Operation.select().where(Operation.done == False, Operation.verb == Param("verb")))  # noqa: E712
    Operation.create(id="o1", project_id="p", user_id="u", verb="CreateVolume", target="v")
    Operation.create(id="o2", project_id="p", user_id="u", verb="CreateVolume", target="v", done=True)
    assert [r.id for r in pending.rows(verb="CreateVolume")] == ["o1"]
