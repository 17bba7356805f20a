"""docs/deployment.md kept honest: its config files parse, pass the checks a
service starts with and agree with its tables and with what its commands make
(everywhere); as root, its three machines are set up as it says, start from
those very files and place, back up and drain as it says."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import pathlib
import re
import tomllib

from backup.repository import manifests
from ember import addresses, config, config_file, pki, tls
from ember.v1 import attachment_pb2, backup_pb2, scheduler_pb2, volume_pb2
from tests import nbd, prerequisites
from tests.multihost import checks, network
from tests.multihost.deployment_doc import (
    DOC, NATS_CONF, PATH_IN_VALUE, PLACEHOLDER, Deployment, Machine, blocks, configs, database, delivered,
    hba_network, machines, nats_dir, nats_listen, passfile, run_commands, settings_of, shared, table, tables,
)
from tests.multihost.remote import Agent
from tests.postgres import binaries

SETTLE = 120.0


def _without_ember_variables(monkeypatch) -> None:
    for field in dataclasses.fields(config.Settings):
        monkeypatch.delenv(config.env_name(field), raising=False)
    monkeypatch.delenv("EMBER_CONFIG", raising=False)


def test_config_files_parse_and_pass_the_start_checks(tmp_path, monkeypatch):
    _without_ember_variables(monkeypatch)
    files, hosts = configs(), machines()
    assert set(files) == set(hosts) and len(hosts) == 3
    # One shape, as the test bed's files: the same top-level keys, equal but for the host's name and certificate.
    own = {"host", "tls_cert", "tls_key"}
    common = [{k: v for k, v in shared(doc).items() if k not in own} for doc in files.values()]
    assert all(c == common[0] for c in common), common
    for name, document in files.items():
        machine = hosts[name]
        assert document["host"] == name
        assert {pathlib.PurePath(document[key]).stem for key in ("tls_cert", "tls_key")} == {name}
        assert list(tables(document)) == machine.services, (name, machine)
        path = tmp_path / f"{name}.toml"
        path.write_text(blocks("config")[f"{name}.toml"])
        for service in machine.services:
            settings = settings_of(path, service)
            servers = ("", "metrics", *(("nbd",) if service == "volume" else ()))
            addresses.check(settings, servers)
            for server in servers:
                prefix = f"{server}_" if server else ""
                bound, advertise = getattr(settings, f"{prefix}listen"), getattr(settings, f"{prefix}advertise")
                assert addresses.split(bound)[0] in {machine.address, *addresses.WILDCARDS}, (name, service, bound)
                told = addresses.advertised(f"{prefix}advertise", bound, advertise, settings.nats_url)
                assert addresses.split(told)[0] == machine.address, (name, service, server, told)
            if service == "volume":
                assert settings.availability_zone == machine.zone


def _ports(cell: str) -> list[range]:
    return [range(int(low), int(high or low) + 1) for low, high in re.findall(r"(\d+)(?:-(\d+))?", cell)]


def _rows_for(rows, machine: str, port: int) -> list[dict[str, str]]:
    return [row for row in rows if machine in _names(row["On"]) and any(port in r for r in _ports(row["Port (TCP)"]))]


def _names(cell: str) -> set[str]:
    return {part.strip() for part in cell.split(",")}


def _bound_ports(files: dict[str, dict], hosts: dict[str, Machine]) -> dict[tuple[str, int], set[str]]:
    """(machine, port) -> who must reach it, from the files, the nats-server
    config and the database URL."""
    everyone = set(hosts)
    runs = {service: {m.name for m in hosts.values() if service in m.services} for service in config_file.SERVICES}
    callers = {"gateway": {"clients"}, "scheduler": runs["gateway"], "backup": runs["gateway"],
               "volume": runs["gateway"] | runs["backup"]}
    bound: dict[tuple[str, int], set[str]] = {}
    for name, document in files.items():
        for service, own in tables(document).items():
            merged = {**shared(document), **own}
            bound[name, int(addresses.split(merged["listen"])[1])] = callers[service]
            bound[name, int(addresses.split(merged["metrics_listen"])[1])] = {"the Prometheus host"}
    nats_machine, listen = nats_listen()
    bound[nats_machine, int(addresses.split(listen)[1])] = everyone
    url = database()
    (db_machine,) = [m.name for m in hosts.values() if m.address == url.hostname]
    bound[db_machine, url.port] = everyone
    return bound


def test_ports_table_agrees_with_the_files():
    files, hosts, rows = configs(), machines(), table("Port (TCP)")
    bound = _bound_ports(files, hosts)
    for (machine, port), callers in bound.items():
        found = _rows_for(rows, machine, port)
        assert len(found) == 1, f"the ports table should have one row for {port} on {machine}: {found}"
        assert callers <= _names(found[0]["Open to"]), (machine, port, found[0])
    for row in rows:
        for machine in _names(row["On"]):
            for ports in _ports(row["Port (TCP)"]):
                if len(ports) == 1:
                    assert (machine, ports[0]) in bound, f"{ports[0]} on {machine} is in the table, no file binds it"
    # The NBD exports: a port each, from the kernel's range, on every storage machine.
    (nbd_row,) = [row for row in rows if "NBD" in row["What"]]
    storage = {name for name, document in files.items() if "nbd_listen" in document.get("volume", {})}
    assert storage and storage <= _names(nbd_row["On"])
    backup_machines = {m.name for m in hosts.values() if "backup" in m.services}
    assert backup_machines | {"compute hosts"} <= _names(nbd_row["Open to"])


def test_nats_and_database_setup_agree_with_the_files():
    hosts = machines()
    nats_machine, listen = nats_listen()
    assert hosts[nats_machine].address == addresses.split(listen)[0]
    for document in configs().values():
        assert document["nats_url"] == f"nats://{listen}"
    assert f"nats-server -c {NATS_CONF}" in DOC.read_text()
    name, user, admitted = hba_network()
    url = database()
    assert (url.path.lstrip("/"), url.username) == (name, user)
    assert all(ipaddress.ip_address(m.address) in admitted for m in hosts.values())
    assert f"createuser --pwprompt {user}" in DOC.read_text()
    assert f"createdb --owner {user} {name}" in DOC.read_text()
    # The password is in the passfile the URL names, on the line libpq looks for.
    assert url.password is None
    _, text = passfile()
    assert text.strip() == f"{url.hostname}:{url.port}:{name}:{user}:{PLACEHOLDER}"


def _printed_nats_lines(output: str) -> dict[tuple[str, str], dict]:
    """`ember nats access`'s lines by (machine, service): `# HOST [ROLE]: ...` over each service's lines."""
    found = {}
    for block in output.strip().split("\n\n"):
        header = re.match(r"# (\S+) \[(\w+)\]", block)
        if header:
            found[header.groups()] = tomllib.loads(block)
    return found


def test_the_commands_make_every_file_the_machines_are_given(tmp_path, monkeypatch):
    """As the doc's commands run on a workstation: each machine gets every
    file its config names, its certificate passes its services' start
    checks, and each service's NATS user is the one made for it."""
    _without_ember_variables(monkeypatch)
    printed = run_commands(tmp_path)
    nats_machine, _ = nats_listen()
    passfile_path, _ = passfile()
    for name, document in configs().items():
        given = delivered(name)
        assert all((tmp_path / source).is_file() for source in given.values()), given
        values = [v for part in (document, *tables(document).values()) for v in part.values() if isinstance(v, str)]
        named = {path for value in values for path in PATH_IN_VALUE.findall(value) if path.startswith("/etc/")}
        assert not named - {passfile_path} - set(given), (name, named - {passfile_path} - set(given))
        files = [str(tmp_path / given[document[key]]) for key in ("tls_ca", "tls_cert", "tls_key")]
        path = tmp_path / f"{name}.toml"
        path.write_text(blocks("config")[f"{name}.toml"])
        for service in machines()[name].services:
            pki.check_host(*files, [tls.advertised_host(settings_of(path, service))])
    users = _printed_nats_lines(printed[-1])
    assert set(users) == {(m.name, s) for m in machines().values() for s in m.services}
    for (name, service), lines in users.items():
        assert {key: tables(configs()[name])[service][key] for key in lines} == lines
    # nats-server finds the users file beside its conf, naming its own machine's certificate as given to it.
    include = re.search(r'^include "([^"]+)"', blocks("nats-server")[nats_machine], re.M).group(1)
    on_nats = delivered(nats_machine)
    assert on_nats[str(pathlib.PurePath(NATS_CONF).parent / include)] == f"{nats_dir()}/nats-access.conf"
    server_tls = json.loads(re.search(r"^tls (.*)$", (tmp_path / nats_dir() / "nats-access.conf").read_text(),
                                      re.M).group(1))
    assert on_nats[server_tls["cert_file"]] == f"{nats_machine}/{nats_machine}.pem"
    assert server_tls["verify"] is True and on_nats[server_tls["ca_file"]].endswith(pki.CA_CERT)


def _storage(deployment: Deployment) -> dict[str, str]:
    """zone -> the machine that holds it."""
    return {m.zone: m.name for m in deployment.machines.values() if "volume" in m.services}


def _pools(admin, zone: str) -> scheduler_pb2.ListPoolsResponse:
    request = scheduler_pb2.ListPoolsRequest(hypothetical=scheduler_pb2.PlacementRequest(size_gb=1,
                                                                                       availability_zone=zone))
    return admin.call(admin.scheduler.ListPools, request)


def _status_is_well(deployment: Deployment, admin_token: str) -> str:
    control = deployment.gateway_machine()
    return checks.wait_for(
        lambda: deployment.ember(control, "status", EMBER_URL=deployment.gateway, EMBER_TOKEN=admin_token),
        lambda done: done.returncode == 0, SETTLE, "ember status is not well").stdout


def _write_over_nbd(deployment: Deployment, client, volume_id: str) -> bytes:
    """Known data written from the gateway's machine, a client like any
    compute host, through the volume's NBD export across the bridge."""
    machine = deployment.gateway_machine()
    data = os.urandom(2 * checks.MIB)
    source = deployment[machine].data_dir / f"data-{volume_id}"
    source.write_bytes(data)
    attachment = client.call(client.volumes.CreateAttachment, attachment_pb2.CreateAttachmentRequest(
        volume_id=volume_id, instance_id="doc", connector=attachment_pb2.Connector(host=machine, transports=["nbd"])),
        timeout=60)
    try:
        with checks.nbd_uri(attachment) as uri:
            copied = deployment[machine].run(["nbdcopy", "--flush", str(source), uri],
                                             capture_output=True, text=True, timeout=120)
        assert copied.returncode == 0, copied.stderr
    finally:
        client.call(client.volumes.DeleteAttachment,
                    attachment_pb2.DeleteAttachmentRequest(attachment_id=attachment.id), timeout=60)
    return data


def _volume_file(deployment: Deployment, volume: volume_pb2.Volume) -> pathlib.Path:
    return deployment.data_dir(volume.host.partition("@")[0]) / "volumes" / "file" / "default" / f"volume-{volume.id}"


def _drain(deployment: Deployment, admin, machine: str, zone: str) -> None:
    """The doc's way out of service: its setting, then a restart of the volume service."""
    change = tables(tomllib.loads(blocks("out-of-service")[f"{machine}.toml"]))["volume"]
    deployment.processes[f"volume@{machine}"].stop()
    deployment.start_service(machine, "volume", **{f"EMBER_{key.upper()}": str(value) for key, value in change.items()})
    answer = checks.wait_for(lambda: _pools(admin, zone), lambda found: any(
        p.host == machine and p.total_capacity_gb == change["pool_capacity_gb"] for p in found.pools), SETTLE,
        f"{machine} does not report its new capacity")
    assert not answer.chosen_pool, answer
    assert all("would over-subscribe it" in p.rejected_reason for p in answer.pools if p.host == machine), answer


def test_the_three_machines_start_from_the_doc_and_work(tmp_path):
    network.require()
    nbd.require_tools()
    if binaries() is None:
        prerequisites.missing("PostgreSQL is not installed here (apt-get install postgresql)", "EMBER_REQUIRE_POSTGRES")
    deployment = Deployment(tmp_path)
    agent = None
    try:
        deployment.start()
        admin_token = deployment.token("ops", admin=True)
        report = _status_is_well(deployment, admin_token)
        storage = _storage(deployment)
        for zone, machine in storage.items():
            assert re.search(rf"^{machine}\s+{zone}\s+volume\s+{deployment[machine].address}:", report, re.M), report
            assert f"{machine}@file#default" in report, report
        agent = Agent(deployment[storage["east"]])
        client = agent.client(deployment.gateway, deployment.token("demo"))
        admin = agent.client(deployment.gateway, admin_token)
        placed = {zone: client.create_available(1, availability_zone=zone) for zone in storage}
        assert {zone: v.host.partition("@")[0] for zone, v in placed.items()} == storage
        # Take the west host out of service as the doc says, moving its volume east through a backup.
        data = _write_over_nbd(deployment, client, placed["west"].id)
        backup = client.call(client.backups.CreateBackup, backup_pb2.CreateBackupRequest(volume_id=placed["west"].id))
        backup = client.done(client.wait(backup, SETTLE), backup_pb2.Backup())
        assert backup.id in set(manifests.backup_ids(deployment.repository))
        _drain(deployment, admin, storage["west"], "west")
        restore = client.call(client.backups.RestoreBackup,
                              backup_pb2.RestoreBackupRequest(backup_id=backup.id, availability_zone="east"))
        moved = client.done(client.wait(restore, SETTLE), volume_pb2.Volume())
        assert moved.host.startswith(f"{storage['east']}@")
        assert checks.starts_with(_volume_file(deployment, moved), data)
        client.done(client.wait(client.delete(placed["west"].id), SETTLE), volume_pb2.Volume())
        checks.wait_for(lambda: _pools(admin, "west"), lambda found: all(
            p.provisioned_capacity_gb == 0 for p in found.pools if p.host == storage["west"]), SETTLE,
            f"{storage['west']} still holds volumes")
    except BaseException:
        print(deployment.logs())
        raise
    finally:
        if agent:
            agent.close()
        deployment.close()
