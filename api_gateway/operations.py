"""google.longrunning.Operations on the gateway: operations are rows in the
shared database; WaitOperation sleeps on the operation's completion event."""

from __future__ import annotations

import asyncio
import collections

from google.longrunning import operations_pb2, operations_pb2_grpc

from ember import events, lookup, operations, pagination, subjects
from ember.db import Operation
from ember.errors import InvalidArgument, Unimplemented
from ember.grpc_server import current_identity
from api_gateway.proxy import clamp_timeout

MAX_WAIT = 300.0


class Completions:
    """One subscription to every event, fanned out to the waiters of the
    operations they finish or move forward (WaitOperation returns then)."""

    def __init__(self):
        self._waiters: dict[str, list[asyncio.Future]] = collections.defaultdict(list)
        self._sub = None

    async def start(self, nc) -> None:
        self._sub = await nc.subscribe(subjects.EVENTS_SUBJECTS, cb=self._on_event)
        await nc.flush()

    async def _on_event(self, msg) -> None:
        operation_id = events.operation_moved(msg.data)
        for future in self._waiters.pop(operation_id, []):
            if not future.done():
                future.set_result(None)

    def future(self, operation_id: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiters[operation_id].append(future)
        return future

    def discard(self, operation_id: str, future: asyncio.Future) -> None:
        waiters = self._waiters.get(operation_id)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[operation_id]

    async def stop(self) -> None:
        if self._sub:
            await self._sub.unsubscribe()


def operation_id(name: str) -> str:
    op_id = name.removeprefix(operations.NAME_PREFIX)
    if not op_id or "/" in op_id:
        raise InvalidArgument("name", f"{name!r} is not an operation name (operations/<id>)")
    return op_id


def _load(op_id: str) -> Operation:
    return lookup.get(Operation, op_id, current_identity().project_id)


def _list(project_id: str, size: int, token: str, secret: bytes) -> tuple[list[Operation], str]:
    query = Operation.select().where(Operation.project_id == project_id)
    after = pagination.decode(secret, "operations", token)
    if after:
        created_at = Operation.created_at.python_value(after[0])
        query = query.where(
            (Operation.created_at < created_at) | ((Operation.created_at == created_at) & (Operation.id < after[1]))
        )
    rows = list(query.order_by(Operation.created_at.desc(), Operation.id.desc()).limit(size + 1))
    if len(rows) <= size:
        return rows, ""
    last = rows[size - 1]
    return rows[:size], pagination.encode(secret, "operations", str(last.created_at), last.id)


class OperationsApi(operations_pb2_grpc.OperationsServicer):
    def __init__(self, completions: Completions, secret: bytes):
        self.completions, self.secret = completions, secret

    async def GetOperation(self, request, context):
        row = await asyncio.to_thread(_load, operation_id(request.name))
        return operations.to_proto(row)

    async def ListOperations(self, request, context):
        if request.filter:
            raise InvalidArgument("filter", "filtering operations is not supported; leave it empty")
        size = pagination.page_size(request.page_size)
        rows, token = await asyncio.to_thread(
            _list, current_identity().project_id, size, request.page_token, self.secret
        )
        return operations_pb2.ListOperationsResponse(
            operations=[operations.to_proto(r) for r in rows], next_page_token=token
        )

    # Neither is supported, but an operation of another project must still be
    # NOT_FOUND rather than an answer that says it exists.
    async def DeleteOperation(self, request, context):
        await asyncio.to_thread(_load, operation_id(request.name))
        raise Unimplemented("operations are kept as the record of what was done and cannot be deleted")

    async def CancelOperation(self, request, context):
        await asyncio.to_thread(_load, operation_id(request.name))
        raise Unimplemented(
            "operations cannot be cancelled; wait for this one (WaitOperation), then delete or change what it made"
        )

    async def WaitOperation(self, request, context):
        op_id = operation_id(request.name)
        limit = clamp_timeout(context.time_remaining(), MAX_WAIT)
        if request.HasField("timeout"):
            # Not ToTimedelta(): a timeout of 2**53 seconds is valid protobuf and overflows a timedelta.
            limit = min(limit, request.timeout.seconds + request.timeout.nanos / 1e9)
        # Listen before looking, so a completion between the two is not missed.
        finished = self.completions.future(op_id)
        try:
            row = await asyncio.to_thread(_load, op_id)
            if row.done:
                return operations.to_proto(row)
            try:
                await asyncio.wait_for(asyncio.shield(finished), max(limit - 0.05, 0))
            except asyncio.TimeoutError:
                pass
        finally:
            self.completions.discard(op_id, finished)
        return operations.to_proto(await asyncio.to_thread(_load, op_id))

