"""Malformed, oversized and odd requests to every public RPC through the
gateway, generated from the protos' descriptors (a new RPC or field is fuzzed
without a change here): the answer is never UNKNOWN or INTERNAL, always says
what was wrong, and a refused call leaves the database as it was."""

from __future__ import annotations

import os
import time
import uuid

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, event, given, note, settings, strategies as st
from playhouse import db_url

from api_gateway.proxy import PUBLIC_SERVICES
from api_gateway.service import OPERATIONS_SERVICE
from ember import db
from ember.v1 import attachment_pb2, backup_pb2, snapshot_pb2, volume_pb2, volume_type_pb2
from tests.harness import running

PROJECT = "fuzz"
# Enough for CI to stay quick; EMBER_FUZZ_EXAMPLES=500 for a deeper search.
EXAMPLES_PER_RPC = int(os.environ.get("EMBER_FUZZ_EXAMPLES", "30"))
CALL_TIMEOUT = 15.0
MAX_DEPTH = 3
SETTLE_TIMEOUT = 30.0
# Above grpc's own 4 MiB default, so that a service which ignored the setting
# would refuse what the gateway let in.
MAX_MESSAGE_BYTES = 6 * 1024 * 1024
# Every table a call could change; a refused call must leave each row as it was.
TABLES = tuple(m._meta.table_name for m in (
    db.Volume, db.Snapshot, db.Backup, db.Attachment, db.VolumeType, db.QuotaUsage, db.QuotaLimit, db.Operation,
))
OPERATIONS = db.Operation._meta.table_name
# Tables whose ids requests name, and those an `id` of each service's requests names.
ID_KINDS = ("volume", "snapshot", "backup", "attachment", "volume_type", OPERATIONS)
SERVICE_KINDS = {"VolumeService": ("volume", "attachment"), "SnapshotService": ("snapshot",),
                 "BackupService": ("backup",), "VolumeTypeService": ("volume_type",), "Operations": (OPERATIONS,)}

POOL = descriptor_pool.Default()
RPCS = [method for name in (*PUBLIC_SERVICES, OPERATIONS_SERVICE) for method in POOL.FindServiceByName(name).methods]


def path_of(method) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


class Database:
    """The cluster's database (SQLite or PostgreSQL), read directly, not
    through Ember, on a read-only connection of its own."""

    def __init__(self, url: str):
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.db = db_url.connect(url, pragmas={"query_only": 1}, timeout=30)
        else:
            self.db = db_url.connect(url, options="-c default_transaction_read_only=on")

    def _rows(self, sql: str) -> list[tuple]:
        # psycopg2 returns BLOBs as memoryviews, which compare but do not repr by value.
        rows = self.db.execute_sql(sql).fetchall()
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table, as of one moment."""
        with self.db.atomic():
            if not self.sqlite:
                # Each statement of a READ COMMITTED transaction sees a different moment.
                self.db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return {t: sorted(self._rows(f"SELECT * FROM {t}"), key=repr) for t in TABLES}

    def pending(self) -> list[tuple]:
        return self._rows(f"SELECT id, verb, target FROM {OPERATIONS} WHERE NOT done")

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> dict[str, list[tuple]]:
        """Waits until the work a successful call started has finished (no
        operation pending, nothing changing), so that it cannot be mistaken
        for a change made by the next, refused, call."""
        deadline = time.monotonic() + timeout
        last = self.snapshot()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.snapshot()
            if now == last and not self.pending():
                return now
            last = now
        return last

    def close(self) -> None:
        self.db.close()


def changes(before: dict, after: dict) -> dict[str, dict[str, list]]:
    """The rows each table lost and gained."""
    return {t: {"gone": [r for r in before[t] if r not in after[t]], "new": [r for r in after[t] if r not in before[t]]}
            for t in TABLES if before[t] != after[t]}


# --- strategies, from the descriptors -----------------------------------------------------------------------------

ODD_PIECES = [
    "\x00", "\u202e", "\u200f", "\u200b", "\ufeff", "\ufffd", "\uffff", "e\u0301\u0301\u0301", "\u0300" * 12,
    "\U0001f4a9", "\U0001d518\U0001d52b\U0001d526", "\U0010fffd", "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\r\n", "\t", " ", "%00", "%s%n", "../../etc/passwd", "'; DROP TABLE volume; --", "\\", "/", "operations/",
    "a/b", "*", "..", "\u0661\u0662\u0663", "\uff41\uff42", "NaN", "-1", "1e309", "<is> True", "<or>", "s==",
]
WORDS = [
    "default", PROJECT, "fuzz-type", "nbd", "local", "host-a", "ember", "thin", "thick", "multiattach",
    "capabilities:fast", "provisioning:type", "RESKEY:availability_zones", "volumes", "gigabytes", "snapshots",
    "backups", "backup_gigabytes", "volumes_default", "gigabytes_fuzz-type", "<is> True", ">= 1", "<or> a <or> b",
]
MASK_PATHS = [
    "name", "description", "metadata", "metadata.k", "metadata.", "extra_specs", "is_public", "access_project_ids",
    "is_default", "size_gb", "id", "status", "volume.name", "",
]
_T, _32, _64 = FieldDescriptor, (-2**31, 2**31 - 1), (-2**63, 2**63 - 1)
INT_RANGES = {_T.TYPE_INT32: _32, _T.TYPE_SINT32: _32, _T.TYPE_SFIXED32: _32, _T.TYPE_INT64: _64, _T.TYPE_SINT64: _64,
              _T.TYPE_SFIXED64: _64, _T.TYPE_UINT32: (0, 2**32 - 1), _T.TYPE_FIXED32: (0, 2**32 - 1),
              _T.TYPE_UINT64: (0, 2**64 - 1), _T.TYPE_FIXED64: (0, 2**64 - 1)}
EDGES = [0, 1, -1, 2, 1000, 1001, 16384, 16385, 2**31 - 1, -2**31, 2**31, 2**32, 2**53, 2**53 + 1, 2**63 - 1, -2**63]

unicode_text = st.lists(
    st.one_of(st.sampled_from(ODD_PIECES), st.text(st.characters(codec="utf-8"), max_size=6)), max_size=10
).map("".join)
oversized_text = st.builds(
    lambda n, unit: unit * n, st.sampled_from([256, 4097, 70_000]),
    st.sampled_from(["x", "\u00e9", "\U0001f4a9", "e\u0301", "\x00", "\u202e"]),
)


def uuid_variants(u: uuid.UUID) -> list[str]:
    s = str(u)
    return [s, s.upper(), "{" + s + "}", "urn:uuid:" + s, u.hex, s + "0", s[:-1], s.replace("-", "_"), " " + s,
            s + "\x00", s.translate(str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667"
                                                  "\u0668\u0669")), "operations/" + s, s + "/x",
            "00000000-0000-0000-0000-000000000000"]


uuid_like = st.uuids().flatmap(lambda u: st.sampled_from(uuid_variants(u)))


def known_strings(field_name: str, known: dict[str, list[str]]) -> list[str]:
    """Values that could be right for a field of this name: real ids of the
    kind it names (an `id` or `name`: of the method's service), names, page tokens."""
    if field_name == "page_token":
        return known["tokens"]
    if field_name == "paths":
        return MASK_PATHS
    if field_name in ("id", "name"):
        return known["id"] + WORDS[:3]
    if field_name.endswith(("_id", "_ids")):
        return known.get(field_name.rsplit("_", 1)[0].removeprefix("source_")) or known["all"]
    return WORDS + known["all"][:3]


def string_values(field_name: str, known, big: bool, tame: bool):
    likely = st.sampled_from(known_strings(field_name, known))
    if tame:
        return likely
    return st.one_of(st.just(""), likely, uuid_like, unicode_text, *([oversized_text] if big else []))


def scalar_values(field, known, big: bool, tame: bool):
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return string_values(field.name, known, big, tame)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(0, 3) if tame else st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    if kind == FieldDescriptor.TYPE_ENUM:
        declared = st.sampled_from([v.number for v in field.enum_type.values])
        return declared if tame else st.one_of(declared, st.sampled_from([-1, 99, 2**31 - 1, -2**31]))
    if tame:
        return st.integers(1, 3)
    low, high = INT_RANGES[kind]
    return st.one_of(st.sampled_from([v for v in EDGES if low <= v <= high]), st.integers(low, high),
                     st.integers(max(low, -3), 3))


def single_values(field, known, depth: int, big: bool, tame: bool):
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, known, depth + 1, big, tame)
    return scalar_values(field, known, big, tame)


def collection_values(field, known, depth: int, big: bool, tame: bool):
    """A repeated field's list or a map's dict: a few entries, or (odd) a great many."""
    size = 2 if tame else 4
    if is_map(field):
        key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        few = st.dictionaries(scalar_values(key_field, known, big, tame),
                              single_values(value_field, known, depth, big, tame), max_size=size)
        many = st.builds(lambda value, n: {f"k{i}": value for i in range(n)},
                         single_values(value_field, known, depth, False, tame), st.sampled_from([64, 65, 1000]))
    else:
        few = st.lists(single_values(field, known, depth, big, tame), max_size=size)
        many = st.builds(lambda item, n: [item] * n, single_values(field, known, depth, False, tame),
                         st.sampled_from([65, 1000]))
    return few if tame else st.one_of(few, many)


def field_values(field, known, depth: int = 0, big: bool = True, tame: bool = False):
    """A field's value, or None: the field missing."""
    values = (collection_values if field.is_repeated else single_values)(field, known, depth, big, tame)
    return st.one_of(st.none(), values)


def is_map(field) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def build(cls, descriptor, values: dict):
    message = cls()
    for name, value in values.items():
        field, target = descriptor.fields_by_name[name], getattr(message, name)
        if value is None:
            continue
        if is_map(field) and field.message_type.fields_by_name["value"].message_type is not None:
            for key, item in value.items():
                target[key].CopyFrom(item)
        elif is_map(field):
            target.update(value)
        elif field.is_repeated:
            target.extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def messages(descriptor, known, depth: int = 0, big: bool = True, tame: bool = False):
    """Messages of this type with each field missing, odd or plausible; or,
    `tame`, missing or plausible."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > MAX_DEPTH:
        return st.just(cls())
    fields = {f.name: field_values(f, known, depth, big, tame) for f in descriptor.fields}
    return st.fixed_dictionaries(fields).map(lambda values: build(cls, descriptor, values))


def one_odd_field(descriptor, known):
    """Plausible messages but for one field, odd or missing: past the first
    check, to the ones behind it and to the database."""
    cls = message_factory.GetMessageClass(descriptor)
    tame = {f.name: field_values(f, known, tame=True) for f in descriptor.fields}
    if not tame:
        return st.just(cls())
    odd = st.sampled_from(list(descriptor.fields)).flatmap(lambda f: field_values(f, known).map(lambda v: (f.name, v)))
    return st.tuples(st.fixed_dictionaries(tame), odd).map(lambda t: build(cls, descriptor, {**t[0], t[1][0]: t[1][1]}))


def corrupt_bodies(valid: bytes):
    """Bytes that do not parse as the request: truncated, overlong, invalid UTF-8."""
    return st.one_of(
        st.sampled_from([
            b"\x0a\x02\xff\xfe",  # field 1, length-delimited: invalid UTF-8 for a string
            b"\x0a\x7f",  # a length past the end
            b"\x08" + b"\xff" * 10 + b"\x01",  # a varint longer than ten bytes
            b"\x0f",  # wire type 7
            b"\x00",  # field number 0
        ]),
        st.just(valid[:-1]) if len(valid) > 1 else st.just(b"\x12"),
        st.binary(min_size=1, max_size=64),
    )


def bodies(descriptor, known):
    """Request bodies: odd throughout, odd in one field, not odd at all (so
    that state moves on and later calls meet it), or not even a message."""
    odd = messages(descriptor, known).map(lambda m: m.SerializeToString())
    near = one_odd_field(descriptor, known).map(lambda m: m.SerializeToString())
    tame = messages(descriptor, known, tame=True).map(lambda m: m.SerializeToString())
    return st.one_of(odd, near, near, tame, odd.flatmap(corrupt_bodies))


# --- the cluster under fuzzing -------------------------------------------------------------------------------------


def reason_of(error: grpc.RpcError) -> str:
    """The ErrorInfo reason Ember puts on every refusal of its own; '' if none."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def call(channel, method, body: bytes, metadata) -> tuple[grpc.StatusCode, str, str]:
    """The status, message and reason of the call; a stream's first answer, or its error."""
    path = path_of(method)
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path)(body, metadata=metadata, timeout=CALL_TIMEOUT)
            try:
                next(stream, None)
            finally:
                stream.cancel()
        else:
            channel.unary_unary(path)(body, metadata=metadata, timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        return error.code(), error.details() or "", reason_of(error)
    return grpc.StatusCode.OK, "", ""


class Fuzz:
    def __init__(self, cluster):
        self.cluster = cluster
        self.db = Database(cluster.database_url)
        self.user = cluster.client(PROJECT)
        self.admin = cluster.client(PROJECT, admin=True)
        self.known: dict[str, list[str]] = {}
        self._bodies = {}

    def seed(self) -> None:
        """Something real for plausible ids to name: volumes (one reserved by
        an attachment), snapshots, backups, a volume type, and page tokens of
        every list. Fixed from here on: hypothesis needs the same strategy
        for every example, whatever the calls before it made or deleted."""
        admin = self.admin
        admin.make_type("fuzz-type", extra_specs={"capabilities:fast": "<is> True"})
        first = admin.create_available(1, name="first", metadata={"k": "v"})
        admin.create_available(1, name="second")
        reserved = admin.create_available(1, name="reserved")
        admin.call(admin.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
            volume_id=reserved.id, instance_id="instance-1"))
        for _ in range(2):
            admin.done(admin.call(admin.snapshots.CreateSnapshot, snapshot_pb2.CreateSnapshotRequest(
                volume_id=first.id)), snapshot_pb2.Snapshot())
            admin.done(admin.call(admin.backups.CreateBackup, backup_pb2.CreateBackupRequest(
                volume_id=first.id)), backup_pb2.Backup())
        pages = [
            (admin.volumes.ListVolumes, volume_pb2.ListVolumesRequest(page_size=1)),
            (admin.snapshots.ListSnapshots, snapshot_pb2.ListSnapshotsRequest(page_size=1)),
            (admin.backups.ListBackups, backup_pb2.ListBackupsRequest(page_size=1)),
            (admin.types.ListVolumeTypes, volume_type_pb2.ListVolumeTypesRequest(page_size=1)),
        ]
        tokens = [admin.call(method, request).next_page_token for method, request in pages]
        assert all(tokens), tokens
        state = self.db.settle()
        self.known = {kind: sorted(row[0] for row in state[kind]) for kind in ID_KINDS}
        self.known["all"] = sorted(i for kind in ID_KINDS for i in self.known[kind])
        self.known[OPERATIONS] = sorted("operations/" + i for i in self.known[OPERATIONS])[:5]
        self.known |= {"tokens": tokens, "project": [PROJECT], "access_project": [PROJECT], "instance": ["instance-1"]}

    def bodies(self, method):
        """Requests of the method; the strategy is made once, as hypothesis needs it the same every time."""
        if method.full_name not in self._bodies:
            kinds = SERVICE_KINDS.get(method.containing_service.name, ID_KINDS)
            known = {**self.known, "id": [i for kind in kinds for i in self.known[kind]]}
            self._bodies[method.full_name] = bodies(method.input_type, known)
        return self._bodies[method.full_name]

    def close(self) -> None:
        self.user.close()
        self.admin.close()
        self.db.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, db_backend):
    """The conftest's cluster, with a message size limit of its own."""
    with running(tmp_path_factory.mktemp("ember"), db_backend, EMBER_MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES)) as c:
        yield c


@pytest.fixture(scope="module")
def fuzz(cluster):
    f = Fuzz(cluster)
    f.seed()
    yield f
    f.close()


@pytest.mark.parametrize("method", RPCS, ids=path_of)
@settings(max_examples=EXAMPLES_PER_RPC, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_every_rpc_refuses_bad_input_precisely_and_changes_nothing(fuzz, method, data):
    before = fuzz.db.snapshot()
    body = data.draw(fuzz.bodies(method), label="body")
    who = data.draw(st.sampled_from([fuzz.admin, fuzz.user]), label="caller")
    code, message, reason = call(who.channel, method, body, who.metadata)
    note(f"{path_of(method)} as {'admin' if who is fuzz.admin else 'user'}: {code.name} {reason} {message!r}")
    event(code.name)  # --hypothesis-show-statistics: what the answers were, to see the fuzz gets past the checks
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), f"{code.name}: {message}"
    assert all(p.running for p in fuzz.cluster.processes), fuzz.cluster.logs()
    if code == grpc.StatusCode.OK:
        if fuzz.db.snapshot() != before or fuzz.db.pending():
            fuzz.db.settle()
            assert not fuzz.db.pending(), f"operations left pending: {fuzz.db.pending()}"
        return
    assert message.strip(), f"{code.name} without a message"
    # Only a body over the size limit is refused by grpc itself; everything
    # else is Ember's own answer, with a reason (not e.g. grpc's "metadata
    # size exceeds limit" when an error echoed too much of the request).
    if len(body) <= MAX_MESSAGE_BYTES:
        assert reason, f"{code.name} {message!r} is not Ember's (no ErrorInfo)"
    after = fuzz.db.snapshot()
    assert after == before, f"{code.name} {message!r} changed the database: {changes(before, after)}"


def test_a_message_over_the_size_limit_is_resource_exhausted(fuzz):
    """The gateway refuses a request over max_message_bytes; one just under
    it reaches the volume service, whose limit is the same, and is refused
    there for what it says, not for its size."""
    before = fuzz.db.snapshot()
    over = volume_pb2.CreateVolumeRequest(size_gb=1, description="x" * MAX_MESSAGE_BYTES)
    under = volume_pb2.CreateVolumeRequest(size_gb=1, description="x" * (MAX_MESSAGE_BYTES - 64))
    assert over.ByteSize() > MAX_MESSAGE_BYTES >= under.ByteSize()
    for request, code, words in ((over, grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"),
                                 (under, grpc.StatusCode.INVALID_ARGUMENT, "description")):
        with pytest.raises(grpc.RpcError) as refused:
            fuzz.user.call(fuzz.user.volumes.CreateVolume, request)
        assert refused.value.code() == code, refused.value
        assert words in refused.value.details(), refused.value.details()
    assert fuzz.db.snapshot() == before
