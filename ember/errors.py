"""Ember's errors and their mapping to rich gRPC statuses (AIP-193): every
error carries google.rpc.ErrorInfo, bad input also BadRequest violations."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from ember import logs

DOMAIN = "ember.v1"

# An error's text goes out in trailers twice (grpc-message, percent-encoded,
# and inside grpc-status-details-bin), and trailers over 8 KiB make a client
# drop the status for RESOURCE_EXHAUSTED "metadata size exceeds soft limit".
# Errors echo what the caller sent, which may be megabytes: in bytes of UTF-8,
MAX_MESSAGE = 512
MAX_DETAIL = 256


def bounded(text: str, limit: int) -> str:
    """`text`, or when longer than `limit` bytes its start and end around an
    ellipsis: the end of a message is what says what was wrong."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    half = (limit - 5) // 2
    return f"{data[:half].decode('utf-8', 'ignore')} \u2026 {data[-half:].decode('utf-8', 'ignore')}"


class EmberError(Exception):
    code = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"

    def __init__(
        self,
        message: str,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        violations: list[tuple[str, str]] | None = None,
    ):
        message = bounded(message, MAX_MESSAGE)
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = {k: bounded(str(v), MAX_DETAIL) for k, v in (metadata or {}).items()}
        self.violations = [(bounded(f, MAX_DETAIL), bounded(d, MAX_MESSAGE)) for f, d in violations or ()]

    def to_status(self) -> grpc.Status:
        details = [_pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata))]
        if self.violations:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in self.violations
                ]
            )
            details.append(_pack(bad))
        proto = status_pb2.Status(code=self.code.value[0], message=self.message, details=details)
        return rpc_status.to_status(proto)


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class InvalidArgument(EmberError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, description: str, reason: str = "INVALID_ARGUMENT"):
        super().__init__(f"{field}: {description}", reason, {"field": field}, [(field, description)])


class NotFound(EmberError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"

    def __init__(self, kind: str, resource_id: str):
        super().__init__(
            f"{kind} {resource_id} not found",
            f"{kind.upper()}_NOT_FOUND",
            {"resource_type": kind, "resource_id": resource_id},
        )


class AlreadyExists(EmberError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(EmberError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class ResourceExhausted(EmberError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "QUOTA_EXCEEDED"


class DataLoss(EmberError):
    code = grpc.StatusCode.DATA_LOSS
    default_reason = "DATA_LOSS"


class Unauthenticated(EmberError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(EmberError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unavailable(EmberError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "SERVICE_UNAVAILABLE"


class Unimplemented(EmberError):
    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = "NOT_SUPPORTED"


class Recorded(EmberError):
    """An error a request ended with, kept in the database by its code's name
    and given again, the same, to the request's retries."""

    def __init__(self, code_name: str, message: str, reason: str):
        super().__init__(message, reason)
        self.code = grpc.StatusCode[code_name]


async def abort(context: grpc.aio.ServicerContext, error: EmberError) -> None:
    status = error.to_status()
    # abort() replaces trailing metadata set earlier, so the request id the
    # interceptor set is given again here.
    trailing = (*status.trailing_metadata, (logs.REQUEST_ID_KEY, logs.request_id()))
    await context.abort(status.code, status.details, trailing_metadata=trailing)


def reason_of(error: grpc.RpcError) -> str:
    """The reason of a failed call's ErrorInfo; '' when it has none (it did not come from Ember)."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""

