"""`ember nats access`: a private password per service, kept across runs;
the users file nats-server includes, whose permissions a real nats-server
enforces; and the config lines each host's service table needs."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import tomllib

import pytest

from cli import main
from ember import launcher, nats_access, pki, subjects
from ember.config import Settings
from tests.integration.test_nats_access import allowed, refused_at_connect

SERVICES = ["gateway@control", "scheduler@control", "volume@store-a"]
USERS = ["gateway-control", "scheduler-control", "volume-store-a"]


def access(directory, *services: str, tls: pki.TlsFiles | None = None, **flags: str) -> None:
    argv = ["nats", "access", "--dir", str(directory), *(a for s in services for a in ("--service", s))]
    if tls:
        argv += ["--server-tls-ca", str(tls.ca), "--server-tls-cert", str(tls.cert), "--server-tls-key", str(tls.key)]
    for flag, value in flags.items():
        argv += [f"--{flag.replace('_', '-')}", value]
    main.main(argv)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def conf_users(directory) -> dict[str, dict]:
    """The users of the written file, by name, as nats-server reads them."""
    text = (directory / "nats-access.conf").read_text()
    return {entry["user"]: entry for entry in map(json.loads, re.findall(r"^    (\{.*\})$", text, re.M))}


def printed(output: str) -> dict[str, dict]:
    """The printed lines of each service, by its user, read as a config file would."""
    found = {}
    for block in output.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        if lines:
            values = tomllib.loads("\n".join(lines))
            found[values["nats_user"]] = values
    return found


def test_each_service_gets_a_private_password_and_the_lines_of_its_table(tmp_path, capsys):
    directory = tmp_path / "nats"
    access(directory, *SERVICES, password_dir="/etc/ember/nats")
    assert mode(directory) == 0o700
    for name in [*USERS, nats_access.ADMIN]:
        assert mode(directory / f"{name}.password") == 0o600
        assert conf_users(directory)[name]["password"] == (directory / f"{name}.password").read_text().strip()
    assert mode(directory / "nats-access.conf") == 0o600
    lines = printed(capsys.readouterr().out)
    assert list(lines) == USERS
    for name, values in lines.items():
        assert values == {"nats_user": name, "nats_password_file": f"/etc/ember/nats/{name}.password"}
        Settings(**values)
    # Without TLS flags there is no TLS block, and a warning says what that means.
    assert not (directory / "nats-access.conf").read_text().startswith("tls")


def test_each_user_is_allowed_what_its_role_and_host_need(tmp_path):
    access(tmp_path, *SERVICES, "backup@control", "volume@store-b")
    users = conf_users(tmp_path)
    assert set(users) == {*USERS, "backup-control", "volume-store-b", nats_access.ADMIN}
    assert "permissions" not in users[nats_access.ADMIN]
    for name, entry in users.items():
        if name != nats_access.ADMIN:
            role, _, host = name.partition("-")
            expected = nats_access.User(role, host).permissions()
            assert entry["permissions"] == {"publish": {"allow": list(expected.publish)},
                                            "subscribe": {"allow": list(expected.subscribe)}}
    assert subjects.volume_tasks("store-a") in users["volume-store-a"]["permissions"]["publish"]["allow"]
    assert subjects.volume_tasks("store-a") not in users["volume-store-b"]["permissions"]["publish"]["allow"]


def test_running_again_keeps_every_password_and_adds_services(tmp_path):
    access(tmp_path, *SERVICES)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    access(tmp_path, *SERVICES)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before
    access(tmp_path, *SERVICES, "volume@store-c")
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert {name: after[name] for name in before if name.endswith(".password")} == {
        name: data for name, data in before.items() if name.endswith(".password")}
    assert set(conf_users(tmp_path)) == {*USERS, "volume-store-c", nats_access.ADMIN}


def test_a_second_user_for_a_service_rotates_its_password_without_cutting_it_off(tmp_path):
    access(tmp_path, *SERVICES)
    old = (tmp_path / "volume-store-a.password").read_text()
    access(tmp_path, *SERVICES, "volume@store-a=volume-store-a-2")
    users = conf_users(tmp_path)
    assert users["volume-store-a"]["password"] == old.strip()
    assert users["volume-store-a-2"]["permissions"]["publish"] == users["volume-store-a"]["permissions"]["publish"]
    assert users["volume-store-a-2"]["password"] != old.strip()
    (tmp_path / "volume-store-a.password").unlink()
    access(tmp_path, *SERVICES[:2], "volume@store-a=volume-store-a-2")
    assert set(conf_users(tmp_path)) == {*USERS[:2], "volume-store-a-2", nats_access.ADMIN}


def test_a_service_left_out_is_refused_rather_than_locked_out(tmp_path):
    access(tmp_path, *SERVICES)
    conf = (tmp_path / "nats-access.conf").read_bytes()
    with pytest.raises(SystemExit, match="volume-store-a.password"):
        access(tmp_path, *SERVICES[:2])
    assert (tmp_path / "nats-access.conf").read_bytes() == conf
    # Deleting the user's file is how it is taken out.
    (tmp_path / "volume-store-a.password").unlink()
    access(tmp_path, *SERVICES[:2])
    assert "volume-store-a" not in conf_users(tmp_path)


@pytest.mark.parametrize("argv, said", [
    (["--service", "volume"], "not ROLE@HOST"),
    (["--service", "database@control"], "the role is one of"),
    (["--service", "volume@store.a"], "cannot be a NATS subject token"),
    (["--service", "volume@a", "--server-tls-ca", "/ca.pem"], "go together"),
    (["--service", "volume@a", "--server-tls-ca", "ca.pem", "--server-tls-cert", "/c.pem", "--server-tls-key",
      "/c.key"], "absolute path"),
])
def test_a_mistake_is_refused_before_anything_is_written(tmp_path, argv, said):
    with pytest.raises(SystemExit, match=said):
        main.main(["nats", "access", "--dir", str(tmp_path / "nats"), *argv])
    assert not (tmp_path / "nats").exists()


def test_nats_server_running_the_file_lets_in_only_the_services_each_with_its_subjects(tmp_path):
    pki.init_ca(tmp_path / "ca")
    tls = pki.issue(tmp_path / "ca", tmp_path / "ca", "localhost", ["127.0.0.1"])
    directory = tmp_path / "nats"
    access(directory, *SERVICES, "volume@store-b", tls=tls)
    server = launcher.start_nats(tmp_path / "server", launcher.free_port(), directory / "nats-access.conf")
    try:
        def connect_as(user: str) -> dict:
            return nats_access.client_options(Settings(
                tls_ca=str(tls.ca), tls_cert=str(tls.cert), tls_key=str(tls.key), nats_user=user,
                nats_password_file=str(directory / f"{user}.password")))

        store_a = connect_as("volume-store-a")
        assert asyncio.run(allowed(server.address, store_a, "pub", subjects.volume_task("store-a", "create")))
        assert not asyncio.run(allowed(server.address, store_a, "pub", subjects.volume_task("store-b", "create")))
        assert not asyncio.run(allowed(server.address, connect_as("gateway-control"), "pub",
                                       subjects.scheduler_task("create")))
        assert asyncio.run(allowed(server.address, connect_as("scheduler-control"), "pub",
                                   subjects.volume_task("store-b", "create")))
        # A password of one user does not open another, and no certificate means no connection.
        wrong = {**store_a, "password": connect_as("volume-store-b")["password"]}
        assert "authorization violation" in str(asyncio.run(refused_at_connect(server.address, **wrong))).lower()
        bare = {key: value for key, value in store_a.items() if key != "tls"}
        assert asyncio.run(refused_at_connect(server.address, **bare)) is not None
    finally:
        server.stop(timeout=5)
