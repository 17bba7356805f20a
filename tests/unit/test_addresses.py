"""What a server advertises to other hosts: the bound address when it is a
specific one, `advertise` when given, and a refusal naming the setting when
other hosts could not dial it."""

import dataclasses
import subprocess
import sys

import pytest

from ember import addresses
from ember.config import Settings
from volume.targets.nbd import NbdExport

LOCAL_NATS = "nats://127.0.0.1:4222"
REMOTE_NATS = "nats://198.18.0.11:4222,nats://198.18.0.12:4222"


def test_a_specific_bound_address_is_advertised_as_it_is():
    assert addresses.advertised("advertise", "198.18.0.5:40001", "", REMOTE_NATS) == "198.18.0.5:40001"
    assert addresses.advertised("advertise", "127.0.0.1:40001", "", LOCAL_NATS) == "127.0.0.1:40001"
    assert addresses.advertised("advertise", "[fd00::5]:40001", "", REMOTE_NATS) == "[fd00::5]:40001"


def test_advertise_gives_the_host_and_keeps_the_bound_port_unless_it_names_one():
    assert addresses.advertised("advertise", "0.0.0.0:40001", "198.18.0.5", REMOTE_NATS) == "198.18.0.5:40001"
    assert addresses.advertised("advertise", "0.0.0.0:40001", "ctl-1.example:8776", REMOTE_NATS) == "ctl-1.example:8776"
    assert addresses.advertised("advertise", "[::]:40001", "fd00::5", REMOTE_NATS) == "[fd00::5]:40001"


@pytest.mark.parametrize("bound", ["0.0.0.0:40001", "[::]:40001", ":40001"])
def test_a_wildcard_without_advertise_is_refused_naming_the_setting(bound):
    with pytest.raises(SystemExit, match=r"binds every address.*set advertise \(EMBER_ADVERTISE\)"):
        addresses.advertised("advertise", bound, "", LOCAL_NATS)
    with pytest.raises(SystemExit, match=r"metrics_listen .* set metrics_advertise \(EMBER_METRICS_ADVERTISE\)"):
        addresses.advertised("metrics_advertise", bound, "", LOCAL_NATS)


def test_loopback_is_refused_while_nats_is_on_other_machines_and_its_password_is_not_shown():
    remote = "nats://ember:s3cret@198.18.0.11:4222"
    with pytest.raises(SystemExit, match="a loopback address, but nats_url") as refused:
        addresses.advertised("advertise", "127.0.0.1:40001", "", remote)
    assert "s3cret" not in str(refused.value)
    with pytest.raises(SystemExit, match="set nbd_advertise"):
        addresses.advertised("nbd_advertise", "0.0.0.0", "localhost", REMOTE_NATS)
    # Loopback is right when everything is on this machine (ember up, the tests).
    assert addresses.advertised("advertise", "127.0.0.1:1", "", "nats://localhost:4222,127.0.0.2:4222") == "127.0.0.1:1"


def test_nbd_advertises_a_host_each_export_adds_its_port():
    assert addresses.advertised("nbd_advertise", "0.0.0.0", "198.18.0.21", REMOTE_NATS) == "198.18.0.21"
    export = NbdExport("att", "/v", "0.0.0.0", 10809, False, advertise="198.18.0.21")
    assert export.data()["uri"] == "nbd://198.18.0.21:10809/att" and export.data()["host"] == "198.18.0.21"
    legacy = NbdExport("att", "/v", "127.0.0.1", 10809, False)
    assert legacy.data()["uri"] == "nbd://127.0.0.1:10809/att", "a record written before advertise still reads"


def test_check_covers_each_server_a_process_runs_before_it_binds():
    settings = dataclasses.replace(Settings(), nats_url=REMOTE_NATS, listen="198.18.0.5:0",
                                   metrics_listen="198.18.0.5:0", nbd_listen="0.0.0.0")
    addresses.check(settings, ("", "metrics"))
    with pytest.raises(SystemExit, match="nbd_listen 0.0.0.0 binds every address"):
        addresses.check(settings, ("", "metrics", "nbd"))


def test_a_service_bound_to_a_wildcard_without_advertise_does_not_start(tmp_path):
    env = {"EMBER_DATA_DIR": str(tmp_path), "EMBER_LISTEN": "0.0.0.0:0", "EMBER_NATS_URL": "nats://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-m", "scheduler"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "listen 0.0.0.0:0 binds every address" in done.stderr and "set advertise (EMBER_ADVERTISE)" in done.stderr
