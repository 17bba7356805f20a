"""Processes that pull tasks from the same durable (two schedulers, two
backup services) each get theirs as soon as it is there: none sits on tasks
it was handed while it waits for a fuller batch, which would leave them to
ack_wait and a second delivery elsewhere."""

from __future__ import annotations

import asyncio

from nats.js.api import AckPolicy, ConsumerConfig

from ember import launcher, subjects
from ember.bus import Bus
from ember.pull import Puller

SUBJECT = "ember.tasks.test.pull"
DURABLE = "pull-test"
CLIENTS = 8
EACH = 30


async def test_two_processes_on_one_durable_take_every_task_once_on_its_first_delivery(tmp_path):
    mesh = launcher.Mesh(tmp_path)
    server = mesh.start_nats(launcher.free_port())
    buses: list[Bus] = []
    handled: dict[str, list[int]] = {}
    waiting: dict[str, asyncio.Future] = {}

    async def handler(delivery) -> None:
        key = delivery.payload["key"]
        handled.setdefault(key, []).append(delivery.attempt)
        # A few milliseconds of work, as a scheduler's placement takes.
        await asyncio.sleep(0.01)
        if not waiting[key].done():
            waiting[key].set_result(None)

    async def client(number: int) -> None:
        # As the control-plane benchmark's clients: the next task once the last is done.
        for i in range(EACH):
            key = f"{number}.{i}"
            waiting[key] = asyncio.get_running_loop().create_future()
            await publisher.publish_task(SUBJECT, {"key": key}, msg_id=key)
            await waiting[key]

    try:
        buses = [await Bus.connect(server.address, name, options=mesh.nats_options())
                 for name in ("publisher", "consumer-1", "consumer-2")]
        publisher = buses[0]
        for bus in buses[1:]:
            await bus.consume(SUBJECT, DURABLE, handler, ack_wait=3, max_deliver=5)
        await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(CLIENTS))), 120)
        # A redelivered copy of a held task would be handled after the first answer.
        await asyncio.sleep(4)
    finally:
        for bus in buses:
            await bus.close()
        mesh.stop()
    assert handled == {f"{n}.{i}": [1] for n in range(CLIENTS) for i in range(EACH)}


async def test_a_pull_takes_what_is_ready_in_one_batch_and_otherwise_waits_for_one(tmp_path):
    mesh = launcher.Mesh(tmp_path)
    server = mesh.start_nats(launcher.free_port())
    bus = await Bus.connect(server.address, "puller-test", options=mesh.nats_options())
    try:
        await bus.js.add_consumer(subjects.TASKS_STREAM, ConsumerConfig(
            durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=30, filter_subject=SUBJECT))
        puller = Puller(bus.nc, subjects.TASKS_STREAM, DURABLE)
        await puller.start()
        assert await puller.next(16, wait=0.5) == []

        for n in range(5):
            await bus.publish_task(SUBJECT, {"n": n}, msg_id=f"ready-{n}")
        ready = await puller.next(16, wait=30)
        assert [m.data for m in ready] == [f'{{"n": {n}}}'.encode() for n in range(5)]

        later = asyncio.create_task(puller.next(16, wait=30))
        await asyncio.sleep(0.5)
        await bus.publish_task(SUBJECT, {"n": 5}, msg_id="later")
        (arrived,) = await asyncio.wait_for(later, 20)
        assert arrived.data == b'{"n": 5}'
        for msg in [*ready, arrived]:
            await msg.ack()
    finally:
        await bus.close()
        mesh.stop()
