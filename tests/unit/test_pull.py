"""ember.pull's requests and what ends them, against a stand-in for the
server's answers: the exchange in which nats-py's fetch held its tasks."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.msg import Msg
from nats.js.errors import ServiceUnavailableError

from ember.pull import Puller


class Server:
    """Answers each pull request on its inbox with the next scripted replies."""

    def __init__(self, *answers: list[Msg]):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.callback = None

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, inbox: str, cb) -> None:
        self.callback = cb

    async def publish(self, subject: str, payload: bytes, reply: str) -> None:
        assert subject == "$JS.API.CONSUMER.MSG.NEXT.EMBER_TASKS.durable" and reply == "_INBOX.test"
        self.requests.append(json.loads(payload))
        for msg in self.answers.pop(0):
            await self.callback(msg)


def task(n: int) -> Msg:
    return Msg(None, subject="ember.tasks.x", reply=f"$JS.ACK.EMBER_TASKS.durable.1.{n}.{n}.0.0", data=b"{}")


def status(code: str, description: str) -> Msg:
    return Msg(None, headers={"Status": code, "Description": description})


async def pulled(server: Server, batch: int = 16, wait: float = 30) -> list[Msg]:
    puller = Puller(server, "EMBER_TASKS", "durable")
    await puller.start()
    return await asyncio.wait_for(puller.next(batch, wait), 10)


async def test_the_tasks_ready_come_in_one_batch_ended_by_the_servers_no_messages():
    server = Server([task(1), task(2), status("404", "No Messages")])
    assert await pulled(server) == [task(1), task(2)]
    assert server.requests == [{"batch": 16, "no_wait": True}]


async def test_a_full_batch_needs_no_status_to_end_it():
    server = Server([task(1), task(2)])
    assert await pulled(server, batch=2) == [task(1), task(2)]


async def test_when_another_process_waits_it_waits_for_one_task_and_returns_it_at_once():
    # "Requests Pending": the tasks there are promised to another process's pull.
    server = Server([status("408", "Requests Pending")], [task(3)])
    assert await pulled(server) == [task(3)]
    assert server.requests == [{"batch": 16, "no_wait": True}, {"batch": 1, "expires": 30_000_000_000}]


async def test_nothing_arriving_before_the_pull_expires_is_an_empty_pull():
    server = Server([status("404", "No Messages")], [status("408", "Request Timeout")])
    assert await pulled(server) == []


async def test_jetstream_unavailable_is_raised_as_nats_py_raises_it():
    server = Server([status("503", "")])
    with pytest.raises(ServiceUnavailableError):
        await pulled(server)
