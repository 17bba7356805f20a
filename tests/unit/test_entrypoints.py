"""Task handlers are found by the @task marks on their class, an unknown
verb is dropped, and run() wraps every handler."""

import logging

from ember.bus import Delivery
from ember.entrypoints import TaskHandlers, task


class Tasks(TaskHandlers):
    kind = "test task"

    def __init__(self):
        self.seen = []

    @task("create")
    async def create(self, delivery):
        self.seen.append(("create", delivery.payload))

    @task("delete_thing")
    async def delete(self, delivery):
        self.seen.append(("delete", delivery.payload))

    async def helper(self, delivery):
        self.seen.append(("helper", delivery.payload))


def delivery(subject: str) -> Delivery:
    return Delivery(subject, {"n": 1}, 1, False)


async def test_each_verb_goes_to_its_marked_method_and_nothing_else():
    tasks = Tasks()
    assert set(tasks.handlers) == {"create", "delete_thing"}
    await tasks.handle(delivery("ember.tasks.volume.host-a.create"))
    await tasks.handle(delivery("ember.tasks.volume.host-a.delete_thing"))
    assert tasks.seen == [("create", {"n": 1}), ("delete", {"n": 1})]


async def test_an_unknown_verb_is_logged_and_dropped(caplog):
    tasks = Tasks()
    with caplog.at_level(logging.ERROR):
        await tasks.handle(delivery("ember.tasks.volume.host-a.helper"))
    assert tasks.seen == []
    assert "unknown test task ember.tasks.volume.host-a.helper; dropping it" in caplog.text


async def test_run_wraps_every_handler():
    class Wrapped(Tasks):
        async def run(self, handler, delivery):
            self.seen.append("before")
            await handler(delivery)
            self.seen.append("after")

    tasks = Wrapped()
    await tasks.handle(delivery("ember.tasks.backup.create"))
    assert tasks.seen == ["before", ("create", {"n": 1}), "after"]
