"""A host cut off in the middle of a transaction leaves its PostgreSQL session
idle inside it: the server ends that session, so the row locks it held stop
holding up every other host's writes, and its owner sees a lost connection
(which the writer runs again on a new one)."""

import threading

import peewee

from ember import db
from ember.db import QuotaUsage

ROW = (QuotaUsage.project_id == "p") & (QuotaUsage.resource == "volumes")


def test_a_transaction_whose_client_fell_silent_lets_go_of_its_locks(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setattr(db, "IDLE_IN_TRANSACTION_TIMEOUT", 0.5)
    opened = db.open_database(postgres_server.url(tmp_path))
    holding, host_back = threading.Event(), threading.Event()
    failed: list[Exception] = []

    def cut_off_host() -> None:
        # A thread of its own: peewee gives each thread its own connection.
        try:
            with opened.atomic():
                QuotaUsage.update(in_use=QuotaUsage.in_use + 1).where(ROW).execute()
                holding.set()
                host_back.wait(10)
                QuotaUsage.select().where(ROW).count()
        except peewee.PeeweeException as exc:
            failed.append(exc)
        finally:
            opened.close()

    try:
        QuotaUsage.create(project_id="p", resource="volumes", in_use=0)
        host = threading.Thread(target=cut_off_host)
        host.start()
        assert holding.wait(10)
        with opened.atomic():
            # Without the server's limit this would wait for the silent host.
            opened.execute_sql("SET LOCAL lock_timeout = '5s'")
            QuotaUsage.update(in_use=QuotaUsage.in_use + 1).where(ROW).execute()
        host_back.set()
        host.join(10)
        assert len(failed) == 1 and db.connection_lost(failed[0]), failed
        assert QuotaUsage.get(ROW).in_use == 1
    finally:
        host_back.set()
        opened.close()


def test_options_in_the_url_come_after_embers_own():
    options = db.postgres_options("postgresql://u@db.example/ember?options=-c%20statement_timeout%3D5000")
    assert options == "-c idle_in_transaction_session_timeout=10000 -c statement_timeout=5000"
