"""Long-running operations (AIP-151): their rows, how they finish, and how they
look as google.longrunning.Operation."""

from __future__ import annotations

import datetime
import uuid

from google.longrunning import operations_pb2
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from ember import messages, outbox
from ember.auth import Identity
from ember.db import Operation, utcnow
from ember.errors import DOMAIN, EmberError
from ember.outbox import Task
from ember.prepared import Param, Prepared, PreparedInsert, params_for
from ember.v1 import common_pb2

NAME_PREFIX = "operations/"
TYPE_URL_PREFIX = "type.googleapis.com/"


_INSERT = PreparedInsert(Operation)
_DONE_FIELDS = [Operation.done, Operation.end_time, Operation.updated_at, Operation.progress_percent, Operation.publish_after]


_PROGRESS = Prepared(
    lambda: Operation.update(
        params_for([Operation.progress_percent, Operation.updated_at, Operation.publish_after])
    ).where(Operation.id == Param("id"), Operation.done == False)  # noqa: E712
)


_TOUCH = Prepared(
    lambda: Operation.update(params_for([Operation.publish_after])).where(
        Operation.id == Param("id"), Operation.done == False  # noqa: E712
    )
)


def touch(operation_id: str, retry_after: float) -> None:
    """Puts off the re-send of a task that is still being worked on."""
    _TOUCH.execute(id=operation_id, publish_after=utcnow() + datetime.timedelta(seconds=retry_after))


def set_progress(operation_id: str, percent: int, retry_after: float) -> None:
    """Records progress; a task that progresses is running, so its re-send is put off."""
    now = utcnow()
    _PROGRESS.execute(id=operation_id, progress_percent=percent, updated_at=now,
                      publish_after=now + datetime.timedelta(seconds=retry_after))


def _finishing(result_fields: list) -> Prepared:
    return Prepared(
        lambda: Operation.update(params_for(_DONE_FIELDS + result_fields)).where(
            Operation.id == Param("id"), Operation.done == False  # noqa: E712
        )
    )


_SUCCEED = _finishing([Operation.response])
_FAIL = _finishing([Operation.error_code, Operation.error_reason, Operation.error_message])


def new_id() -> str:
    return str(uuid.uuid4())


def new(
    identity: Identity, verb: str, target: str, request_id: str | None, op_id: str | None = None,
    task: Task | None = None, retry_after: float = 0.0,
) -> Operation:
    """A new operation row, with its first task when it has one."""
    fields = dict(
        id=op_id or new_id(),
        project_id=identity.project_id,
        user_id=identity.user_id,
        verb=verb,
        target=target,
        request_id=request_id or None,
        created_at=utcnow(),
        **(outbox.columns(task, retry_after) if task else {}),
    )
    fields["updated_at"] = fields["created_at"]
    _INSERT.execute(**fields)
    return Operation(**fields)


def finish(operation_id: str, response: bytes | None = None, error: EmberError | None = None) -> bool:
    """Marks the operation done once, which also ends its pending task; False if it already was."""
    now = utcnow()
    fields = dict(id=operation_id, done=True, end_time=now, updated_at=now, progress_percent=100, publish_after=None)
    if error is not None:
        return _FAIL.execute(
            **fields, error_code=error.code.value[0], error_reason=error.reason, error_message=error.message
        ) == 1
    return _SUCCEED.execute(**fields, response=response) == 1


# What each verb's operation resolves to (AIP-151 response_type).
RESPONSE_TYPES = {
    "CreateSnapshot": "ember.v1.Snapshot", "DeleteSnapshot": "ember.v1.Snapshot",
    "CreateBackup": "ember.v1.Backup", "DeleteBackup": "ember.v1.Backup",
    "VerifyBackup": "ember.v1.BackupVerification",
}
DEFAULT_RESPONSE_TYPE = "ember.v1.Volume"


def to_proto(row: Operation) -> operations_pb2.Operation:
    response_type = RESPONSE_TYPES.get(row.verb, DEFAULT_RESPONSE_TYPE)
    metadata = common_pb2.OperationMetadata(
        verb=row.verb,
        target=row.target,
        create_time=messages.timestamp(row.created_at),
        end_time=messages.timestamp(row.end_time),
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
