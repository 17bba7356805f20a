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
