"""Calls from one Ember process to another: the caller's identity signed into
the metadata with the request id, an instance chosen through the directory
(of a service, or of one storage host), one channel per address, and a call
that never reached its instance offered to the next."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc
from google.protobuf.message import Message

from ember import auth, logs
from ember.directory import Directory

# Instances a call is offered to when the ones before could not be reached.
MAX_TRIES = 4
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def open_channel(address: str, max_message_bytes: int,
                 credentials: grpc.ChannelCredentials | None = None) -> grpc.aio.Channel:
    """Every channel between Ember processes is made here: mutual TLS when
    given `credentials` (the process's tls.Internal), else plaintext."""
    # As large as the services' own limit, so a call one of them accepts or
    # answers is never refused on this hop.
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes)]
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, credentials, options=options)


def never_arrived(error: grpc.RpcError) -> bool:
    """Only a call that never reached a server is safe to send to another instance."""
    return error.code() == grpc.StatusCode.UNAVAILABLE and "failed to connect" in (error.details() or "")


class _Route:
    """The instances one call is offered to, in turn."""

    def __init__(self, directory: Directory, service: str, host: str):
        self.directory, self.service, self.host = directory, service, host
        self.tried: list[str] = []

    def next(self) -> str:
        address = self.directory.pick(self.service, avoid=self.tried, host=self.host)
        self.tried.append(address)
        return address

    def may_retry(self, error: grpc.aio.AioRpcError) -> bool:
        """A call that never reached its instance goes to another one, at
        most MAX_TRIES in all; a call that arrived is never sent twice."""
        if not never_arrived(error):
            return False
        self.directory.mark_down(self.tried[-1])
        untried = [a for a in self.directory.addresses(self.service, self.host) if a not in self.tried]
        return len(self.tried) < MAX_TRIES and bool(untried)


def _serializers(request: bytes | Message, answer: type[Message] | None) -> dict:
    """Bytes go through untouched (the gateway forwards them); messages are encoded."""
    return {
        "request_serializer": None if isinstance(request, bytes) else type(request).SerializeToString,
        "response_deserializer": answer.FromString if answer is not None else None,
    }


class InternalClient:
    """Calls a method of a service as `identity`, within `timeout` seconds
    across all tries; with `host`, an instance on that storage host."""

    def __init__(self, directory: Directory, secret: bytes, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 credentials: grpc.ChannelCredentials | None = None):
        self.directory, self.secret, self.max_message_bytes = directory, secret, max_message_bytes
        self.credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = open_channel(address, self.max_message_bytes, self.credentials)
        return channel

    def metadata(self, identity: auth.Identity) -> tuple:
        return (
            (auth.INTERNAL_METADATA_KEY, auth.create_internal(identity, self.secret)),
            (logs.REQUEST_ID_KEY, logs.request_id()),
        )

    async def unary(
        self, service: str, method: str, request: bytes | Message, identity: auth.Identity, timeout: float,
        host: str = "", answer: type[Message] | None = None,
    ):
        """The answer (bytes, or an `answer` message); the upstream's AioRpcError if it failed."""
        metadata, deadline = self.metadata(identity), time.monotonic() + timeout
        route = _Route(self.directory, service, host)
        while True:
            call = self.channel(route.next()).unary_unary(method, **_serializers(request, answer))
            try:
                return await call(request, timeout=deadline - time.monotonic(), metadata=metadata)
            except grpc.aio.AioRpcError as error:
                if not route.may_retry(error):
                    raise

    async def stream(
        self, service: str, method: str, request: bytes | Message, identity: auth.Identity, timeout: float,
        host: str = "", answer: type[Message] | None = None,
    ) -> AsyncIterator:
        """The answers as they come; once one has come, a failure is never retried."""
        metadata, deadline = self.metadata(identity), time.monotonic() + timeout
        route = _Route(self.directory, service, host)
        while True:
            call = self.channel(route.next()).unary_stream(method, **_serializers(request, answer))(
                request, timeout=deadline - time.monotonic(), metadata=metadata
            )
            answered = False
            try:
                async for response in call:
                    answered = True
                    yield response
                return
            except grpc.aio.AioRpcError as error:
                if answered or not route.may_retry(error):
                    raise
            finally:
                call.cancel()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
