"""gRPC server plumbing shared by every process: the interceptor that decides
who the caller is (gateway: bearer token; services: the gateway's signed
identity), carries it and the request id in context variables, counts and
times the call, and maps errors to statuses."""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Callable

import grpc

from ember import auth, errors, logs, metrics
from ember.db import connection_lost

log = logging.getLogger(__name__)

_identity: contextvars.ContextVar[auth.Identity] = contextvars.ContextVar("ember_identity")
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
# The reason of a call turned away by a stopping gateway: none of it was done.
STOPPING = "STOPPING"

Authenticate = Callable[[tuple], auth.Identity]


def current_identity() -> auth.Identity:
    """The caller of the RPC being served."""
    return _identity.get()


def metadata_value(metadata, key: str) -> str:
    for k, v in metadata or ():
        if k == key:
            return v
    return ""


def _unary(handler: grpc.RpcMethodHandler, behavior) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        behavior, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


def _streaming(handler: grpc.RpcMethodHandler, behavior) -> grpc.RpcMethodHandler:
    return grpc.unary_stream_rpc_method_handler(
        behavior, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


def _rejecting(method: str, error: errors.EmberError):
    async def reject(request, context):
        # Refusals are what an operator looks for after a break-in attempt;
        # the credential itself is never logged, only why it failed.
        log.warning("refused %s from %s: %s (%s)", method, context.peer(), error.reason, error.message)
        await errors.abort(context, error)

    return reject


async def _turned_away(request, context):
    await errors.abort(context, errors.Unavailable(
        "this gateway is stopping and did nothing of this call; send it to another gateway", STOPPING))


async def _abort_for(context, method: str, failure: Exception) -> None:
    if isinstance(failure, errors.EmberError):
        await errors.abort(context, failure)
    if connection_lost(failure):
        log.warning("%s: the database is unreachable: %s", method, failure)
        await errors.abort(context, errors.Unavailable(f"the database is unreachable ({failure}); try again"))
    log.exception("%s failed", method, exc_info=failure)
    await errors.abort(context, errors.EmberError("internal error; see the service log"))


class _ObservedCall:
    """One call as CallInterceptor wraps it: what its handler runs with, and
    how the call is counted, timed and (on the public port) logged."""

    def __init__(self, method: str, request_id: str, identity: auth.Identity | None, public: bool):
        self.method, self.request_id, self.identity, self.public = method, request_id, identity, public
        self.labels = metrics.split_method(method)

    def unary(self, behavior):
        """`behavior` observed, its failures mapped to statuses."""

        async def call(request, context):
            started = self._begin(context)
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                # The handler already ended the call with its status.
                raise
            except Exception as failure:
                await _abort_for(context, self.method, failure)
            finally:
                self._end(context, started)

        return call

    def streaming(self, behavior):
        """`behavior` observed; it maps its own failures (see _guarded_stream)."""

        async def stream(request, context):
            started = self._begin(context)
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                self._end(context, started)

        return stream

    def _begin(self, context) -> float:
        logs.set_request_id(self.request_id)
        if self.identity is not None:
            _identity.set(self.identity)
        if self.public:
            # Trailing, not initial: initial metadata sent on its own costs
            # the gateway a write per call; trailing metadata goes with the status.
            context.set_trailing_metadata(((logs.REQUEST_ID_KEY, self.request_id),))
        return time.perf_counter()

    def _end(self, context, started: float) -> None:
        code = metrics.code_name(context)
        metrics.observe_call(self.labels, code, started)
        if self.public:
            took = round((time.perf_counter() - started) * 1000, 2)
            project = self.identity.project_id if self.identity else ""
            log.info("%s %s %.1fms project=%s", self.method, code, took, project or "-", extra={"fields": {
                "method": self.method, "code": code, "duration_ms": took, "project": project}})


class CallInterceptor(grpc.aio.ServerInterceptor):
    """What every call (unary, or with a streamed answer) goes through: it is
    admitted only when `authenticate` accepts its metadata, runs with its
    caller and request id in context variables, and is counted and timed.
    On the `public` port (the gateway) the caller is told the request id in
    the answer's trailing metadata, and a line per call says how it ended.
    Other call shapes are not served."""

    def __init__(self, authenticate: Authenticate, public: bool = False):
        self.authenticate = authenticate
        self.public = public
        self.turning_away = False

    def turn_away(self) -> None:
        """From now on every call is answered UNAVAILABLE (reason STOPPING)
        before any of it is done, so that its client sends it, and the calls
        after it, to another gateway. A client of the public port learns of a
        stop no other way, and grpc's own stop answers the calls arriving as
        it begins CANCELLED (grpc/grpc#41785), which reads as if they were done."""
        self.turning_away = True

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_PREFIXES):
            return handler
        method = details.method
        request_id = logs.accepted_request_id(metadata_value(details.invocation_metadata, logs.REQUEST_ID_KEY))
        if self.turning_away:
            turned = _ObservedCall(method, request_id, None, self.public)
            return _unary(handler, turned.unary(_turned_away))
        try:
            identity = self.authenticate(details.invocation_metadata)
        except errors.EmberError as error:
            # Refused whatever its shape: one unary answer carries the status.
            refused = _ObservedCall(method, request_id, None, self.public)
            return _unary(handler, refused.unary(_rejecting(method, error)))
        call = _ObservedCall(method, request_id, identity, self.public)
        if handler.unary_unary is not None:
            return _unary(handler, call.unary(handler.unary_unary))
        if handler.unary_stream is not None:
            return _streaming(handler, call.streaming(self._guarded_stream(method, handler.unary_stream)))
        return None

    @staticmethod
    def _guarded_stream(method: str, streaming):
        async def stream(request, context):
            try:
                async for response in streaming(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as failure:
                await _abort_for(context, method, failure)

        return stream


def internal_authenticator(secret: bytes, accepted: tuple[bytes, ...] = ()) -> Authenticate:
    """Admits calls carrying an identity signed with `secret` or, while it is
    rotated, one of the `accepted` secrets."""

    def authenticate(metadata) -> auth.Identity:
        token = metadata_value(metadata, auth.INTERNAL_METADATA_KEY)
        if not token:
            raise errors.Unauthenticated(
                f"call this service through the Ember gateway (no {auth.INTERNAL_METADATA_KEY} metadata)",
                "NOT_FROM_GATEWAY",
            )
        try:
            return auth.verify_internal(token, secret, accepted)
        except auth.InvalidToken as exc:
            raise errors.Unauthenticated(f"call this service through the Ember gateway ({exc})", "NOT_FROM_GATEWAY")

    return authenticate


def bearer_authenticator(secret: bytes, accepted: tuple[bytes, ...] = ()) -> Authenticate:
    """Admits calls carrying a user token signed with `secret` or, while it
    is rotated, one of the `accepted` secrets."""

    def authenticate(metadata) -> auth.Identity:
        token = auth.bearer(metadata)
        if not token:
            raise errors.Unauthenticated(
                "missing 'authorization: Bearer <token>' metadata; make a token with `ember token create`",
                "TOKEN_MISSING",
            )
        try:
            return auth.verify_token(token, secret, accepted)
        except auth.InvalidToken as exc:
            raise errors.Unauthenticated(f"{exc}; make a new one with `ember token create`", "TOKEN_INVALID")

    return authenticate
