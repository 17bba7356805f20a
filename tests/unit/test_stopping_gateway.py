"""A stopping gateway turns new calls away, UNAVAILABLE with reason STOPPING,
before any of them is done, so that clients send them to another gateway."""

import typing

import grpc
import pytest

from ember import auth, grpc_server
from ember.testing import CallFailed, FakeContext

ALICE = auth.Identity("proj-a", "alice")


class Details(typing.NamedTuple):
    method: str
    invocation_metadata: tuple


async def answer(interceptor: grpc_server.CallInterceptor, method: str, handler):
    async def continuation(_details):
        return handler

    intercepted = await interceptor.intercept_service(continuation, Details(method, ()))
    context = FakeContext()
    try:
        return await intercepted.unary_unary(b"request", context)
    except grpc.aio.AbortError:
        raise CallFailed(*context.status, context.trailing) from None


async def test_calls_after_turn_away_are_refused_undone_and_health_still_answers():
    done = []

    async def create(request, context):
        done.append(request)
        return b"created"

    gateway = grpc_server.CallInterceptor(lambda metadata: ALICE, public=True)
    create_handler = grpc.unary_unary_rpc_method_handler(create)
    assert await answer(gateway, "/ember.v1.VolumeService/CreateVolume", create_handler) == b"created"
    gateway.turn_away()
    with pytest.raises(CallFailed) as refused:
        await answer(gateway, "/ember.v1.VolumeService/CreateVolume", create_handler)
    assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.UNAVAILABLE, grpc_server.STOPPING)
    assert done == [b"request"]
    assert await answer(gateway, "/grpc.health.v1.Health/Check", create_handler) == b"created"
