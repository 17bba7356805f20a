"""Calls between Ember processes: they carry a signed identity and the
request id, a call that never reached its instance goes to another, and a
call that arrived is never sent twice."""

import socket
import time

import grpc
import pytest

from ember import auth, grpc_server, logs
from ember.directory import Directory
from ember.internal_client import MAX_TRIES, InternalClient

SECRET = b"s" * 48
ALICE = auth.Identity("proj-a", "alice")


class Mirror:
    def __init__(self, entries):
        self.entries = entries

    def fresh(self, prefix, max_age):
        return {k: v for k, v in self.entries.items() if k.startswith(prefix)}


class Upstream(grpc.GenericRpcHandler):
    """Answers /t.T/Echo and streams /t.T/Count; with `fail`, ends every call UNAVAILABLE."""

    def __init__(self, fail: bool = False):
        self.fail, self.calls, self.metadata = fail, 0, []

    def service(self, details):
        async def echo(request, context):
            self.calls += 1
            self.metadata.append(dict(context.invocation_metadata()))
            if self.fail:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "arrived, then failed")
            return request

        async def count(request, context):
            self.calls += 1
            for i in range(3):
                yield bytes([i])

        return {"/t.T/Echo": grpc.unary_unary_rpc_method_handler(echo),
                "/t.T/Count": grpc.unary_stream_rpc_method_handler(count)}.get(details.method)


def closed_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
async def serve():
    servers = []

    async def start(handler: Upstream) -> str:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([handler])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(None)


async def client_for(*addresses: str, host: str = "h") -> InternalClient:
    directory = Directory(ttl=6)
    directory.mirror = Mirror({f"volume.{i}": {"address": a, "host": host, "ts": time.time()}
                               for i, a in enumerate(addresses)})
    return InternalClient(directory, SECRET)


async def test_a_call_carries_a_signed_identity_and_the_request_id(serve):
    upstream = Upstream()
    client = await client_for(await serve(upstream))
    logs.set_request_id("req-1")
    try:
        assert await client.unary("volume", "/t.T/Echo", b"hi", ALICE, 5.0) == b"hi"
    finally:
        await client.close()
    metadata = upstream.metadata[0]
    assert metadata[logs.REQUEST_ID_KEY] == "req-1"
    authenticate = grpc_server.internal_authenticator(SECRET)
    assert authenticate(((auth.INTERNAL_METADATA_KEY, metadata[auth.INTERNAL_METADATA_KEY]),)) == ALICE


async def test_a_call_that_never_arrived_goes_to_another_instance(serve):
    upstream = Upstream()
    dead = closed_address()
    client = await client_for(dead, await serve(upstream))
    try:
        for _ in range(3):
            assert await client.unary("volume", "/t.T/Echo", b"x", ALICE, 5.0) == b"x"
        assert [r async for r in client.stream("volume", "/t.T/Count", b"", ALICE, 5.0)] == [b"\0", b"\1", b"\2"]
    finally:
        await client.close()
    assert upstream.calls == 4
    assert dead not in client.directory.addresses("volume")


async def test_a_call_that_arrived_is_never_sent_twice(serve):
    first, second = Upstream(fail=True), Upstream(fail=True)
    client = await client_for(await serve(first), await serve(second))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.unary("volume", "/t.T/Echo", b"x", ALICE, 5.0)
    finally:
        await client.close()
    assert failed.value.details() == "arrived, then failed"
    assert first.calls + second.calls == 1


async def test_unreachable_instances_are_tried_at_most_max_tries():
    dead = [closed_address() for _ in range(MAX_TRIES + 2)]
    client = await client_for(*dead)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await client.unary("volume", "/t.T/Echo", b"x", ALICE, 5.0)
    finally:
        await client.close()
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(client.directory.addresses("volume")) == 2


async def test_a_call_for_a_storage_host_goes_only_to_that_host(serve):
    theirs, ours = Upstream(), Upstream()
    client = await client_for(await serve(theirs), host="other")
    client.directory.mirror.entries["volume.mine"] = {"address": await serve(ours), "host": "mine", "ts": time.time()}
    try:
        for _ in range(3):
            await client.unary("volume", "/t.T/Echo", b"x", ALICE, 5.0, host="mine")
    finally:
        await client.close()
    assert (theirs.calls, ours.calls) == (0, 3)
