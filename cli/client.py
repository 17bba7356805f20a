"""The CLI's connection to the gateways, `gateway()` (addresses, token and TLS
CA from the environment; gRPC errors as one readable line), and output helpers."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from typing import Iterator

import grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2, json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cli import gateways
from ember import config, errors
from ember.internal_client import never_arrived
from ember.v1 import common_pb2


class CliError(SystemExit):
    def __init__(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        super().__init__(1)


@contextlib.contextmanager
def gateway() -> Iterator[tuple[grpc.Channel, tuple]]:
    """The gateways' channel and the calls' metadata, for every command that
    calls Ember: a gRPC error inside ends the command with one readable line."""
    channel, metadata = _connect()
    with channel:
        try:
            yield channel, metadata
        except grpc.RpcError as error:
            raise CliError(describe(error))


def _connect() -> tuple[grpc.Channel, tuple]:
    token = os.environ.get("EMBER_TOKEN", "")
    if not token:
        raise CliError("set EMBER_TOKEN, e.g. export EMBER_TOKEN=$(ember token create --project demo)")
    metadata = (("authorization", f"Bearer {token}"),)
    addresses = gateway_addresses()
    ca_path = os.environ.get("EMBER_TLS_CA", "")
    if not ca_path:
        return gateways.Gateways(addresses), metadata
    try:
        with open(ca_path, "rb") as f:
            ca = f.read()
    except OSError as exc:
        raise CliError(f"EMBER_TLS_CA: cannot read {ca_path}: {exc.strerror}")
    return gateways.Gateways(addresses, grpc.ssl_channel_credentials(root_certificates=ca)), metadata


def gateway_addresses() -> list[str]:
    """EMBER_URL's gateways: host:port, or several separated by commas."""
    url = os.environ.get("EMBER_URL", config.GATEWAY_ADDRESS)
    addresses = gateways.parse(url)
    if not addresses:
        raise CliError(f"EMBER_URL={url!r} names no gateway: give host:port, or several separated by commas")
    return addresses


def new_request_id() -> str:
    """A new request_id for the one change a command asks for: a repeat
    under it is answered with what the first call started, so the call
    may go to another gateway when the first one goes away meanwhile."""
    return str(uuid.uuid4())


def describe(error: grpc.RpcError) -> str:
    """'CODE: message (reason; field: why)' from a rich status."""
    reason = errors.reason_of(error)
    parts = [reason] if reason else []
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            parts.extend(f"{v.field}: {v.description}" for v in bad.field_violations)
    if never_arrived(error):
        # grpc says the same for a stopped gateway, a wrong address and a TLS
        # mismatch (a plaintext client at a TLS port, or an untrusted CA);
        # the call was offered to every gateway before it came to this.
        tried = ", ".join(gateways.parse(os.environ.get("EMBER_URL", config.GATEWAY_ADDRESS)))
        ca = os.environ.get("EMBER_TLS_CA", "")
        tls = f"is EMBER_TLS_CA={ca} the CA of their certificates?" if ca else "if they serve TLS, set EMBER_TLS_CA"
        parts.append(f"no gateway could be reached, tried EMBER_URL={tried}: is one running? {tls}")
    suffix = f" ({'; '.join(parts)})" if parts else ""
    return f"{error.code().name}: {error.details()}{suffix}"


def as_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _progress(op: operations_pb2.Operation) -> None:
    """A progress bar on a terminal; WaitOperation returns at each step."""
    if not sys.stderr.isatty():
        return
    meta = common_pb2.OperationMetadata()
    op.metadata.Unpack(meta)
    filled = meta.progress_percent // 5
    print(f"\r{meta.verb} [{'#' * filled}{'.' * (20 - filled)}] {meta.progress_percent:3d}%", end="", file=sys.stderr)
    if op.done:
        print(file=sys.stderr)


def wait(channel, metadata, op: operations_pb2.Operation) -> operations_pb2.Operation:
    stub = operations_pb2_grpc.OperationsStub(channel)
    _progress(op)
    while not op.done:
        op = stub.WaitOperation(
            operations_pb2.WaitOperationRequest(name=op.name, timeout=duration_pb2.Duration(seconds=30)),
            metadata=metadata, timeout=40,
        )
        _progress(op)
    if op.HasField("error"):
        raise CliError(f"{op.name} failed: {op.error.message}")
    return op


def finish(args, channel, metadata, op: operations_pb2.Operation, answer, show) -> None:
    """What a command that starts an operation prints: the operation (its
    name, or all of it with --json), or with --wait its answer, through show()."""
    if not args.wait:
        print(json.dumps(as_dict(op), indent=2) if args.json else op.name)
        return
    wait(channel, metadata, op).response.Unpack(answer)
    show(answer)


def status_name(enum, value: int) -> str:
    """A status for people: VOLUME_STATUS_IN_USE is in_use."""
    return enum.Name(value).removeprefix(enum.Name(0).removesuffix("UNSPECIFIED")).lower()


def show(message, as_json: bool, values: dict) -> None:
    """A resource as JSON, or as aligned `key  value` lines of `values`."""
    if as_json:
        print(json.dumps(as_dict(message), indent=2))
    else:
        fields(values)


def listing(items: list, as_json: bool, row, columns: tuple[str, ...]) -> None:
    """Resources as a JSON list, or as a table of row(item) in `columns`."""
    if as_json:
        print(json.dumps([as_dict(item) for item in items], indent=2))
    else:
        table([row(item) for item in items], columns)


def table(rows: list[dict], columns: tuple[str, ...]) -> None:
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))


def fields(values: dict) -> None:
    """One aligned `key  value` line per field that has a value."""
    width = max(map(len, values))
    for key, value in values.items():
        if value not in ("", None, {}):
            print(f"{key:<{width}}  {value}")


def every_page(list_call, request, field: str) -> list:
    """All items of a paginated List call."""
    found = []
    while True:
        page = list_call(request)
        found.extend(getattr(page, field))
        if not page.next_page_token:
            return found
        request.page_token = page.next_page_token
