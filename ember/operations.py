"""Long-running operations (AIP-151): their rows, how they finish, and how they
look as google.longrunning.Operation."""

from __future__ import annotations

import uuid

from google.longrunning import operations_pb2
from google.protobuf import any_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from ember.auth import Identity
from ember.db import Operation, utcnow
from ember.errors import DOMAIN, EmberError
from ember.v1 import common_pb2

NAME_PREFIX = "operations/"
TYPE_URL_PREFIX = "type.googleapis.com/"


def new(identity: Identity, verb: str, target: str, request_id: str | None) -> Operation:
    return Operation.create(
        id=str(uuid.uuid4()),
        project_id=identity.project_id,
        user_id=identity.user_id,
        verb=verb,
        target=target,
        request_id=request_id or None,
    )


def find_by_request(identity: Identity, verb: str, request_id: str) -> Operation | None:
    if not request_id:
        return None
    return Operation.get_or_none(
        Operation.project_id == identity.project_id, Operation.verb == verb, Operation.request_id == request_id
    )


def finish(operation_id: str, response: bytes | None = None, error: EmberError | None = None) -> bool:
    """Marks the operation done once; False if it already was."""
    fields = dict(done=True, end_time=utcnow(), updated_at=utcnow(), progress_percent=100)
    if error is not None:
        fields.update(error_code=error.code.value[0], error_reason=error.reason, error_message=error.message)
    else:
        fields.update(response=response)
    return Operation.update(**fields).where(Operation.id == operation_id, Operation.done == False).execute() == 1  # noqa: E712


def _timestamp(value) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def to_proto(row: Operation, response_type: str = "ember.v1.Volume") -> operations_pb2.Operation:
    metadata = common_pb2.OperationMetadata(
        verb=row.verb,
        target=row.target,
        create_time=_timestamp(row.created_at),
        end_time=_timestamp(row.end_time),
        progress_percent=row.progress_percent,
        project_id=row.project_id,
    )
    op = operations_pb2.Operation(name=NAME_PREFIX + row.id, done=row.done)
    op.metadata.Pack(metadata)
    if row.done and row.error_code:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=row.error_reason, domain=DOMAIN, metadata={"operation": row.id}))
        op.error.CopyFrom(status_pb2.Status(code=row.error_code, message=row.error_message, details=[info]))
    elif row.done:
        op.response.CopyFrom(any_pb2.Any(type_url=TYPE_URL_PREFIX + response_type, value=bytes(row.response or b"")))
    return op
