"""config.redact, which every printed URL goes through (--help, `ember status`,
startup errors): passwords go, in whatever place a URL may hold one, and
nothing else changes."""

import pytest

from ember.config import redact


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://ember:hunter2@db:5432/ember", "postgresql://ember:***@db:5432/ember"),
    # libpq ends the password at the first @ or /, so commas, ? and : belong to it.
    ("postgresql://ember:a,b?c:d@db/ember", "postgresql://ember:***@db/ember"),
    ("postgresql://ember:p%40ss@db/ember?sslmode=require", "postgresql://ember:***@db/ember?sslmode=require"),
    ("postgresql://ember@db/ember?password=hunter2", "postgresql://ember@db/ember?password=***"),
    ("postgresql://ember@db/ember?sslmode=require&password=hunter2&connect_timeout=5",
     "postgresql://ember@db/ember?sslmode=require&password=***&connect_timeout=5"),
    ("postgresql://db/ember?sslmode=verify-full&sslkey=/k.pem&sslpassword=keypw",
     "postgresql://db/ember?sslmode=verify-full&sslkey=/k.pem&sslpassword=***"),
    ("nats://a:pw2@n1:4222,nats://b:pw3@n2:4222", "nats://a:***@n1:4222,nats://b:***@n2:4222"),
    ("nats://n1:4222,nats://b:pw3@n2:4222", "nats://n1:4222,nats://b:***@n2:4222"),
    ("cannot open the database postgresql://ember:hunter2@db/e: refused",
     "cannot open the database postgresql://ember:***@db/e: refused"),
])
def test_redact_hides_every_password(url, shown):
    assert redact(url) == shown


@pytest.mark.parametrize("plain", [
    "sqlite:///var/lib/ember/ember.db",
    "postgresql://ember@db:5432/ember?sslmode=verify-full&sslrootcert=/etc/ember/db-ca.pem",
    "postgresql://ember@db/ember?passfile=/etc/ember/pgpass",
    "postgresql://db1:5432,db2:5432/ember?target_session_attrs=read-write",
    "nats://127.0.0.1:4222",
    "50%",
])
def test_redact_leaves_what_holds_no_password_alone(plain):
    assert redact(plain) == plain
