"""A PostgreSQL database URL reaches libpq whole (escapes decoded, values kept
as written, every parameter passed on), a passfile libpq would skip is refused
by name, and no refusal quotes the password."""

import re

import pytest

from ember import db, postgres_url


def test_every_parameter_reaches_the_driver_as_written():
    opened = db.connect("postgresql://ember:p%40ss%2Fw%2Cd@db.example:6432/ember"
                        "?sslmode=verify-full&sslrootcert=/etc/ember/db%20ca.pem&connect_timeout=007"
                        "&application_name=true&target_session_attrs=any")
    assert opened.database == "ember"
    params = opened.connect_params
    assert params["password"] == "p@ss/w,d" and params["user"] == "ember"
    assert (params["host"], params["port"]) == ("db.example", "6432")
    assert params["sslmode"] == "verify-full" and params["sslrootcert"] == "/etc/ember/db ca.pem"
    # playhouse.db_url made these the number 7 and the boolean True.
    assert params["connect_timeout"] == "007" and params["application_name"] == "true"
    assert params["target_session_attrs"] == "any"
    assert params["options"] == "-c idle_in_transaction_session_timeout=10000"


def test_a_password_parameter_and_several_hosts_pass_through():
    params = db.connect("postgresql://ember@db1:5432,db2:5433/ember?password=007&passfile=/p").connect_params
    assert params["password"] == "007" and params["passfile"] == "/p"
    assert (params["host"], params["port"]) == ("db1,db2", "5432,5433")


@pytest.mark.parametrize(("url", "reason"), [
    # libpq quotes the escape it could not decode, password and all.
    ("postgresql://ember:p%zzSECRET@db/ember", "is not a URL libpq can read"),
    ("postgresql://ember@db/ember?password=SECRET&bogus=1", "is not a URL libpq can read"),
    ("postgresql://ember:SECRET@db/", "names no database"),
    ("mysql://ember:SECRET@db/ember", "Ember takes sqlite:/// and postgresql:// URLs"),
])
def test_a_url_that_cannot_work_is_refused_without_its_password(url, reason):
    with pytest.raises(SystemExit) as refused:
        db.connect(url)
    assert reason in str(refused.value) and "SECRET" not in str(refused.value)


def test_scrub_hides_the_password_as_written_and_decoded():
    url = "postgresql://ember:s%3Acret@db/ember"
    assert postgres_url.scrub('token "s%3Acret" and s:cret', url) == 'token "***" and ***'


@pytest.mark.parametrize(("mode", "refusal"), [
    (0o600, None),
    (0o400, None),
    (0o640, "may be read by group or others (mode 0640), so libpq ignores it: chmod 600"),
    (0o604, "may be read by group or others (mode 0604)"),
])
def test_a_passfile_others_may_read_is_refused(tmp_path, mode, refusal):
    path = tmp_path / "pgpass"
    path.write_text("db:5432:ember:ember:secret\n")
    path.chmod(mode)
    found = postgres_url.params(f"postgresql://ember@db/ember?passfile={path}")
    if refusal is None:
        postgres_url.check_passfile(found)
    else:
        with pytest.raises(SystemExit, match=re.escape(refusal)):
            postgres_url.check_passfile(found)


def test_a_missing_passfile_is_named_and_one_beside_a_password_is_not_read(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(SystemExit, match=f"passfile {missing} .*No such file"):
        postgres_url.check_passfile(postgres_url.params(f"postgresql://ember@db/ember?passfile={missing}"))
    # libpq reads no passfile when the URL has the password.
    postgres_url.check_passfile(postgres_url.params(f"postgresql://ember:pw@db/ember?passfile={missing}"))


def test_passfile_from_the_environment_is_checked(tmp_path, monkeypatch):
    path = tmp_path / "pgpass"
    path.write_text("*:*:*:*:secret\n")
    path.chmod(0o644)
    monkeypatch.setenv("PGPASSFILE", str(path))
    with pytest.raises(SystemExit, match="mode 0644"):
        postgres_url.check_passfile(postgres_url.params("postgresql://ember@db/ember"))
