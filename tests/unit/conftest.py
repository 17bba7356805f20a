import pytest

from ember import db, writer


@pytest.fixture
def database(tmp_path):
    """A fresh SQLite database with Ember's schema, as the services open it."""
    opened = db.open_database(f"sqlite:///{tmp_path / 'ember.db'}")
    try:
        yield opened
    finally:
        writer.stop()
        opened.close()


@pytest.fixture
def default_type(database):
    """The id of the default volume type the schema starts with."""
    from ember.db import VolumeType

    return VolumeType.get(VolumeType.is_default == True).id  # noqa: E712
