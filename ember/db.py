"""The one database every service shares: peewee models, connection set-up and
versioned schema migrations; status changes are compare-and-set updates."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import threading
import uuid
from typing import Callable, Iterator

import peewee
from playhouse import db_url
from playhouse import migrate as schema_change
from playhouse.shortcuts import ReconnectMixin

from ember import postgres_url

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class JSONField(peewee.TextField):
    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()
    applied_at = peewee.DateTimeField(default=utcnow)


class VolumeType(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    name = peewee.CharField(max_length=255, unique=True)
    description = peewee.TextField(default="")
    extra_specs = JSONField(default=dict)
    is_public = peewee.BooleanField(default=True)
    access_project_ids = JSONField(default=list)
    is_default = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)


class Volume(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    project_id = peewee.CharField(max_length=255, index=True)
    user_id = peewee.CharField(max_length=255)
    name = peewee.CharField(max_length=255, default="")
    description = peewee.TextField(default="")
    size_gb = peewee.BigIntegerField()
    status = peewee.CharField(max_length=32, index=True)
    previous_status = peewee.CharField(max_length=32, null=True)
    status_detail = peewee.TextField(default="")
    host = peewee.CharField(max_length=255, default="")
    # RESTRICT: a type cannot be deleted while a volume has it, whatever races.
    volume_type = peewee.ForeignKeyField(VolumeType, column_name="volume_type_id", on_delete="RESTRICT", index=True)
    # Copied so that reading a volume needs no join; a rename updates it.
    volume_type_name = peewee.CharField(max_length=255)
    availability_zone = peewee.CharField(max_length=255, default="")
    # From the type when the volume was made: may it have several attachments?
    multiattach = peewee.BooleanField(default=False)
    source_snapshot_id = peewee.CharField(max_length=36, default="", index=True)
    source_volume_id = peewee.CharField(max_length=36, default="", index=True)
    metadata = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)


class Snapshot(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    # RESTRICT: a volume row cannot go while it has snapshots.
    volume = peewee.ForeignKeyField(Volume, column_name="volume_id", on_delete="RESTRICT", index=True)
    project_id = peewee.CharField(max_length=255, index=True)
    user_id = peewee.CharField(max_length=255)
    name = peewee.CharField(max_length=255, default="")
    description = peewee.TextField(default="")
    size_gb = peewee.BigIntegerField()
    status = peewee.CharField(max_length=32)
    status_detail = peewee.TextField(default="")
    metadata = JSONField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)


class Backup(BaseModel):
    """A backup's record; its data is the manifest of the same id in the
    repository. It outlives its volume."""

    id = peewee.CharField(primary_key=True, max_length=36)
    volume_id = peewee.CharField(max_length=36, index=True)
    project_id = peewee.CharField(max_length=255, index=True)
    user_id = peewee.CharField(max_length=255)
    name = peewee.CharField(max_length=255, default="")
    description = peewee.TextField(default="")
    status = peewee.CharField(max_length=32)
    status_detail = peewee.TextField(default="")
    size_gb = peewee.BigIntegerField()
    incremental = peewee.BooleanField(default=False)
    parent_id = peewee.CharField(max_length=36, default="")
    metadata = JSONField(default=dict)
    data_bytes = peewee.BigIntegerField(default=0)
    stored_bytes = peewee.BigIntegerField(default=0)
    chunk_count = peewee.BigIntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)


class Attachment(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    # RESTRICT: a volume row cannot go while an attachment refers to it.
    volume = peewee.ForeignKeyField(Volume, column_name="volume_id", on_delete="RESTRICT", index=True)
    project_id = peewee.CharField(max_length=255, index=True)
    instance_id = peewee.CharField(max_length=255)
    status = peewee.CharField(max_length=32)
    mode = peewee.CharField(max_length=2, default="rw")
    # The storage host that exports the volume: the one whose service serves this attachment.
    host = peewee.CharField(max_length=255, index=True)
    connector = JSONField(null=True)
    connection_info = JSONField(null=True)
    status_detail = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    attached_at = peewee.DateTimeField(null=True)
    # When it last entered reserved or attaching, by the database's clock (so
    # that hosts with skewed clocks agree on its age): abandoned reservations
    # are released from this.
    pending_since = peewee.DateTimeField(null=True, index=True)
    # Set while its storage host cannot serve its export; status_detail says why.
    export_failed_at = peewee.DateTimeField(null=True)


class AttachmentRequest(BaseModel):
    """A CreateAttachment's request_id and what came of it, so that a retry
    gets the same attachment, or the same error, and never a second one.
    It outlives its attachment, for volume.attachment_requests.RETENTION."""

    project_id = peewee.CharField(max_length=255)
    request_id = peewee.CharField(max_length=36)
    volume_id = peewee.CharField(max_length=36)
    instance_id = peewee.CharField(max_length=255)
    mode = peewee.CharField(max_length=2)
    attachment_id = peewee.CharField(max_length=36, index=True)
    # The error the request ended with (a failed export, a release), if any.
    error_code = peewee.CharField(max_length=32, default="")
    error_reason = peewee.CharField(max_length=64, default="")
    error_message = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        primary_key = peewee.CompositeKey("project_id", "request_id")


class Operation(BaseModel):
    """A long-running operation (AIP-151) and, while it is not done, the task
    that must reach JetStream next: written in the transaction that makes the
    task necessary, re-published by the reconciler until the transaction that
    finishes the operation clears it (the outbox of DESIGN.md section 3)."""

    id = peewee.CharField(primary_key=True, max_length=36)
    project_id = peewee.CharField(max_length=255, index=True)
    user_id = peewee.CharField(max_length=255)
    verb = peewee.CharField(max_length=64)
    target = peewee.CharField(max_length=36)
    request_id = peewee.CharField(max_length=64, null=True)
    done = peewee.BooleanField(default=False)
    error_code = peewee.IntegerField(default=0)
    error_reason = peewee.CharField(max_length=63, default="")
    error_message = peewee.TextField(default="")
    response = peewee.BlobField(null=True)
    progress_percent = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    end_time = peewee.DateTimeField(null=True)
    task_subject = peewee.CharField(max_length=255, default="")
    task_msg_id = peewee.CharField(max_length=128, default="")
    task_payload = JSONField(null=True)
    # When the reconciler re-publishes the task if nothing finished it; NULL once done.
    publish_after = peewee.DateTimeField(null=True, index=True)

    class Meta:
        indexes = ((("project_id", "verb", "request_id"), True),)


class QuotaLimit(BaseModel):
    """A project's own limit for one quota resource; resources without a row
    take the configured default."""

    project_id = peewee.CharField(max_length=255)
    resource = peewee.CharField(max_length=255)
    hard_limit = peewee.BigIntegerField()

    class Meta:
        primary_key = peewee.CompositeKey("project_id", "resource")


class QuotaUsage(BaseModel):
    """What a project holds of one quota resource (volumes, gigabytes), changed
    in the same transaction as the rows it counts."""

    project_id = peewee.CharField(max_length=255)
    resource = peewee.CharField(max_length=255)
    in_use = peewee.BigIntegerField(default=0)

    class Meta:
        primary_key = peewee.CompositeKey("project_id", "resource")


DEFAULT_VOLUME_TYPE = "default"


def _v1(db: peewee.Database) -> None:
    db.create_tables([Volume, Snapshot, Backup, Attachment, Operation, VolumeType, QuotaLimit, QuotaUsage])
    VolumeType.create(
        id=str(uuid.uuid4()), name=DEFAULT_VOLUME_TYPE, description="used when a create names no type", is_default=True
    )


def _v2(db: peewee.Database) -> None:
    """Attachments: request ids, the age of a pending attachment, failed exports.
    _v1 creates tables from today's models, so a new database has the columns already."""
    have = {c.name for c in db.get_columns(Attachment._meta.table_name)}
    migrator = schema_change.SchemaMigrator.from_database(db)
    table = Attachment._meta.table_name
    # add_column also makes the field's index.
    for name in ("pending_since", "export_failed_at"):
        if name not in have:
            schema_change.migrate(migrator.add_column(table, name, Attachment._meta.fields[name]))
    if "pending_since" not in have:
        Attachment.update(pending_since=Attachment.updated_at).execute()
    db.create_tables([AttachmentRequest], safe=True)


# Append only: each entry upgrades the schema by one version, inside a transaction.
MIGRATIONS: list[Callable[[peewee.Database], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


# What a driver says when the connection, not the statement, failed: the
# database restarted, failed over or is unreachable, or (SQLite) is locked.
_CONNECTION_TROUBLE = (
    "server closed the connection", "terminating connection", "connection to server", "could not connect",
    "connection already closed", "connection refused", "database is locked", "the database system is",
)


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` is a lost or refused connection, which trying again later may cure."""
    if isinstance(exc, peewee.InterfaceError):
        return True
    return isinstance(exc, peewee.OperationalError) and any(t in str(exc).lower() for t in _CONNECTION_TROUBLE)


# PostgreSQL's codes for a transaction it ended to break a deadlock, or could
# not serialize: nothing was wrong with it, and run again it goes through.
_CONFLICT_CODES = ("40P01", "40001")


def conflicted(exc: BaseException) -> bool:
    """Whether `exc` ended a transaction that lost a conflict with another one
    (peewee raises its own error while handling the driver's)."""
    return isinstance(exc, peewee.OperationalError) and getattr(exc.__context__, "pgcode", None) in _CONFLICT_CODES


class PostgresDatabase(ReconnectMixin, peewee.PostgresqlDatabase):
    """A statement outside a transaction whose connection died (a database
    restart or failover) reconnects and runs again once; inside one, the
    error reaches the writer, which retries the whole transaction."""

    reconnect_errors = (
        (peewee.OperationalError, "server closed the connection"),
        (peewee.OperationalError, "terminating connection"),
        (peewee.OperationalError, "connection to server"),
        (peewee.InterfaceError, "connection already closed"),
    )


# A host cut off (or gone) in the middle of a transaction leaves its session
# idle inside it, holding row locks (a project's quota usage) that every other
# host's writes then queue behind until TCP gives up, hours later. Ember's
# transactions wait on nothing but the database, so one idle this long has
# lost its client: the server ends it and its locks go.
IDLE_IN_TRANSACTION_TIMEOUT = 10.0


def postgres_options(url: str) -> str:
    """libpq `options` for Ember's sessions; the URL's own come after, so they win."""
    ours = f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TRANSACTION_TIMEOUT * 1000)}"
    return " ".join(filter(None, (ours, postgres_url.params(url).get("options", ""))))


def connect(url: str) -> peewee.Database:
    """The database of `url`, not yet connected; SystemExit for a URL that cannot work."""
    if url.startswith("sqlite"):
        db = db_url.connect(url, pragmas={"journal_mode": "wal", "synchronous": "full", "foreign_keys": 1}, timeout=30)
    else:
        params = postgres_url.params(url)
        db = PostgresDatabase(params.pop("dbname"), **{**params, "options": postgres_options(url)})
    database.initialize(db)
    return db


def database_now() -> datetime.datetime:
    """The database server's time in UTC (naive, like utcnow): the one clock
    every host agrees on, for ages that decide what to release."""
    db = database.obj
    if isinstance(db, peewee.SqliteDatabase):
        text = db.execute_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").fetchone()[0]
        return datetime.datetime.fromisoformat(text)
    return db.execute_sql("SELECT CAST(clock_timestamp() AT TIME ZONE 'UTC' AS timestamp)").fetchone()[0]


def current_version(db: peewee.Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    return SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar() or 0


def migrate(db: peewee.Database) -> int:
    """Brings the schema to SCHEMA_VERSION; safe to run from several processes at once."""
    with write_transaction():
        db.create_tables([SchemaVersion], safe=True)
        version = current_version(db)
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"database schema v{version} is newer than this Ember (v{SCHEMA_VERSION})")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            log.info("applying schema migration v%d", number)
            MIGRATIONS[number - 1](db)
            SchemaVersion.create(version=number)
    return SCHEMA_VERSION


def open_database(url: str) -> peewee.Database:
    """The database of `url`, connected and migrated. SystemExit, saying why
    without the password, when it cannot be opened (a wrong password, a
    passfile libpq would skip, SSL refused or failed, nobody listening)."""
    db = connect(url)
    if isinstance(db, PostgresDatabase):
        postgres_url.check_passfile(db.connect_params)
    try:
        db.connect()
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        raise SystemExit(postgres_url.unusable(url, exc)) from None
    migrate(db)
    return db


_lock_files = threading.local()


@contextlib.contextmanager
def _sqlite_writer(db: peewee.SqliteDatabase) -> Iterator[None]:
    """SQLite's own busy handler waits by sleeping 1, 2, 5, 10... ms between
    tries, which under contention leaves the lock idle while writers sleep.
    An flock on a file beside the database queues writers in the kernel and
    wakes the next one the moment the lock is free."""
    fds = _lock_files.__dict__.setdefault("fds", {})
    fd = fds.get(db.database)
    if fd is None:
        fd = fds[db.database] = os.open(f"{db.database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """SQLite takes the write lock up front, so concurrent writers queue
    instead of failing to upgrade a read lock."""
    db = database.obj
    if isinstance(db, peewee.SqliteDatabase) and db.transaction_depth() == 0:
        with _sqlite_writer(db), db.atomic("IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield
