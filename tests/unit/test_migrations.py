"""Schema migrations, on SQLite and PostgreSQL: a database made by an older
Ember is brought to the current schema without losing rows, and a new one
gets it at once."""

import datetime

from playhouse import migrate as schema_change

from ember import db
from ember.db import Attachment, AttachmentRequest, SchemaVersion, Volume, VolumeType


def test_a_v1_database_gains_the_attachment_columns_and_request_table(tmp_path, db_backend):
    opened = db.connect(db_backend.url(tmp_path))
    try:
        with db.write_transaction():
            opened.create_tables([SchemaVersion])
            db.MIGRATIONS[0](opened)
            SchemaVersion.create(version=1)
        # What v1 made before the columns and the table of v2 existed.
        migrator = schema_change.SchemaMigrator.from_database(opened)
        schema_change.migrate(migrator.drop_index("attachment", "attachment_pending_since"),
                              migrator.drop_column("attachment", "pending_since"),
                              migrator.drop_column("attachment", "export_failed_at"))
        opened.drop_tables([AttachmentRequest])
        default = VolumeType.get(VolumeType.is_default == True)  # noqa: E712
        Volume.create(id="v1", project_id="p", user_id="u", size_gb=1, status="reserved", volume_type=default.id,
                      volume_type_name=default.name)
        touched = datetime.datetime(2026, 1, 2, 3, 4, 5)
        # Only the columns v1 had: peewee leaves out nullable fields without a default.
        Attachment.insert(id="a1", volume="v1", project_id="p", instance_id="vm", status="reserved", host="h",
                          created_at=touched, updated_at=touched).execute()

        assert db.migrate(opened) == db.SCHEMA_VERSION == 2
        old = Attachment.get_by_id("a1")
        assert old.pending_since == touched and old.export_failed_at is None
        assert AttachmentRequest.select().count() == 0
        assert db.migrate(opened) == 2, "running it again changes nothing"
    finally:
        opened.close()


def test_a_new_database_is_made_at_the_current_version(tmp_path, db_backend):
    opened = db.open_database(db_backend.url(tmp_path))
    try:
        assert db.current_version(opened) == db.SCHEMA_VERSION
        columns = {c.name for c in opened.get_columns("attachment")}
        assert {"pending_since", "export_failed_at"} <= columns
        assert opened.table_exists("attachment_request")
    finally:
        opened.close()
