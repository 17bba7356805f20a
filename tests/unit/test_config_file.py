"""Settings from a --config TOML file: below flags and EMBER_* variables,
above a service's own defaults; typed values, per-service tables, mistakes
named by file, table and key, and --help saying where each value came from."""

import dataclasses
import os
import sys

import pytest

from cli import main as cli_main
from ember import config, config_file
from ember.setting_types import Seconds

HOST = """\
task_ack_wait = 10
nats_url = ["nats://ember:natspw@n1:4222", "nats://n2:4222"]
database_url = "postgresql://ember:dbpw@db/ember"
auth_secret = "topsecret"
listen = "127.0.0.1:7000"

[volume]
task_ack_wait = "5m"
pools = ["gold", "silver"]
pool_capacity_gb = 10
reserved_percentage = 5

[gateway]
call_timeout = "500ms"
"""


@pytest.fixture(autouse=True)
def no_ember_variables(monkeypatch):
    for name in [name for name in os.environ if name.startswith("EMBER_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def host_file(tmp_path):
    path = tmp_path / "host.toml"
    path.write_text(HOST)
    return str(path)


def write(tmp_path, text: str) -> str:
    path = tmp_path / "ember.toml"
    path.write_text(text)
    return str(path)


def refusal(capsys, argv: list[str], service: str = "volume") -> str:
    with pytest.raises(SystemExit):
        config.parse(argv, service=service)
    return " ".join(capsys.readouterr().err.split())


def help_of(capsys, argv: list[str], service: str = "volume", **defaults) -> str:
    """--help without whitespace: argparse wraps long paths at their hyphens."""
    with pytest.raises(SystemExit):
        config.parse([*argv, "--help"], service=service, **defaults)
    return "".join(capsys.readouterr().out.split())


def squeezed(text: str) -> str:
    return "".join(text.split())


def test_flag_beats_variable_beats_file_beats_service_default_beats_default(monkeypatch, host_file):
    read = config.parse
    assert read(["--config", host_file], service="volume").task_ack_wait == 300.0
    # The file's top-level listen beats the gateway's own default; a service
    # default still beats the Settings default where the file is silent.
    gateway = read(["--config", host_file], service="gateway", listen="127.0.0.1:8776", max_volume_size_gb=64)
    assert (gateway.listen, gateway.max_volume_size_gb, gateway.task_max_deliver) == ("127.0.0.1:7000", 64, 5)
    monkeypatch.setenv("EMBER_TASK_ACK_WAIT", "7")
    assert read(["--config", host_file], service="volume").task_ack_wait == 7.0
    assert read(["--config", host_file, "--task-ack-wait", "2s"], service="volume").task_ack_wait == 2.0
    assert read([], service="volume").task_ack_wait == 7.0


def test_the_variable_ember_config_names_the_file(monkeypatch, host_file):
    monkeypatch.setenv("EMBER_CONFIG", host_file)
    assert config.parse([], service="volume").pools == "gold,silver"
    assert config.parse(["--config", ""], service="volume").pools == "default"


def test_a_service_table_overrides_the_top_level_for_that_service_only(host_file):
    volume = config.parse(["--config", host_file], service="volume")
    scheduler = config.parse(["--config", host_file], service="scheduler")
    gateway = config.parse(["--config", host_file], service="gateway")
    assert (volume.task_ack_wait, scheduler.task_ack_wait, gateway.task_ack_wait) == (300.0, 10.0, 10.0)
    assert (volume.pools, scheduler.pools) == ("gold,silver", "default")
    assert (gateway.call_timeout, volume.call_timeout) == (0.5, 30.0)
    assert config.parse(["--config", host_file]).task_ack_wait == 10.0


def test_typed_values_are_taken_when_they_fit_the_setting(host_file):
    volume = config.parse(["--config", host_file], service="volume")
    assert volume.pool_capacity_gb == 10.0 and isinstance(volume.pool_capacity_gb, float)
    assert isinstance(volume.task_ack_wait, float) and volume.reserved_percentage == 5
    assert volume.nats_url == "nats://ember:natspw@n1:4222,nats://n2:4222"
    assert volume.auth_secret == "topsecret"


def test_backends_take_an_array_of_tables_as_their_json(tmp_path):
    path = write(tmp_path, '[volume]\nbackends = [{name = "file", pools = ["a"], capacity_gb = 1}]\n')
    backends = config.parse(["--config", path], service="volume").backends
    assert backends == '[{"name": "file", "pools": ["a"], "capacity_gb": 1}]'


@dataclasses.dataclass
class Sample:
    verbose: bool = dataclasses.field(default=False, metadata={"help": "a boolean"})
    wait: Seconds = dataclasses.field(default=30.0, metadata={"help": "a duration"})
    names: list[str] = dataclasses.field(default_factory=lambda: ["a"], metadata={"help": "a list"})


def test_list_settings_take_an_array_or_comma_text_and_strings_go_through_the_flag_parser(tmp_path):
    path = write(tmp_path, 'names = ["x", "y"]\nverbose = "yes"\nwait = "1.5h"\n[volume]\nnames = "p, q"\n')
    top = config_file.load(path, None, Sample)
    assert {name: value.value for name, value in top.items()} == {"names": ["x", "y"], "verbose": True, "wait": 5400.0}
    assert config_file.load(path, "volume", Sample)["names"] == config_file.FileValue(["p", "q"], f"{path} [volume]")


def test_an_unknown_key_is_named_with_its_file_and_table_and_the_closest_setting(tmp_path, capsys):
    path = write(tmp_path, "[backup]\nbackup_worker = 3\n")
    # Every table is checked, not only that of the service reading the file.
    message = refusal(capsys, ["--config", path], service="volume")
    assert f"{path} [backup]: backup_worker is not a setting; did you mean backup_workers?" in message
    path = write(tmp_path, "natsurl = 'nats://n1'\n")
    assert f"{path} (top level): natsurl is not a setting; did you mean nats_url?" in refusal(capsys, ["--config", path])
    path = write(tmp_path, "[volumes]\npools = 'a'\n")
    message = refusal(capsys, ["--config", path])
    assert "volumes is neither a setting nor one of the tables [gateway]" in message and "did you mean [volume]?" in message


@pytest.mark.parametrize("line, wanted", [
    ("task_max_deliver = 2.5", "task_max_deliver: a number does not fit: the setting takes an integer"),
    ("reserved_percentage = true", "reserved_percentage: a boolean does not fit: the setting takes an integer"),
    ("listen = 8776", "listen: an integer does not fit: the setting takes text"),
    ("pools = [1, 2]", "pools: an array does not fit: the setting takes text or an array of text"),
    ("task_ack_wait = '5x'", "task_ack_wait: '5x' is not a duration"),
    ("call_timeout = [1]", "call_timeout: an array does not fit: the setting takes seconds"),
])
def test_a_value_of_the_wrong_type_is_named_with_its_file_table_and_key(tmp_path, capsys, line, wanted):
    path = write(tmp_path, f"[scheduler]\n{line}\n")
    assert f"{path} [scheduler]: {wanted}" in refusal(capsys, ["--config", path])


def test_a_missing_or_malformed_file_is_named(tmp_path, capsys):
    missing = str(tmp_path / "nowhere.toml")
    assert f"cannot read the config file {missing}: No such file" in refusal(capsys, ["--config", missing])
    broken = write(tmp_path, "pools = [\n")
    assert f"config file {broken} is not valid TOML" in refusal(capsys, ["--config", broken])


def test_help_says_which_file_and_table_each_value_came_from(monkeypatch, capsys, host_file):
    monkeypatch.setenv("EMBER_CALL_TIMEOUT", "3s")
    text = help_of(capsys, ["--config", host_file], listen="127.0.0.1:8776", max_volume_size_gb=64)
    assert squeezed(f"($EMBER_TASK_ACK_WAIT, default 300.0 from {host_file} [volume];") in text
    assert squeezed(f"($EMBER_LISTEN, default 127.0.0.1:7000 from {host_file})") in text
    assert squeezed("($EMBER_CALL_TIMEOUT, default 3s from $EMBER_CALL_TIMEOUT;") in text
    assert squeezed("($EMBER_MAX_VOLUME_SIZE_GB, default 64)") in text
    assert "--configFILETOMLfileofsettings" in text and squeezed(f"$EMBER_CONFIG, default {host_file})") in text


def test_help_hides_secrets_and_url_passwords_from_the_file(capsys, host_file):
    text = help_of(capsys, ["--config", host_file])
    for leaked in ("topsecret", "natspw", "dbpw"):
        assert leaked not in text
    assert squeezed(f"($EMBER_AUTH_SECRET, default hidden from {host_file})") in text
    assert "nats://ember:***@n1:4222,nats://n2:4222" in text


def test_ember_serve_becomes_the_service_process_with_the_arguments_given(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append((path, argv)))
    cli_main.main(["serve", "gateway", "--config", "/etc/ember/host.toml", "--listen", "0.0.0.0:8776"])
    cli_main.main(["serve", "volume", "--help"])
    assert calls == [
        (sys.executable, [sys.executable, "-m", "api_gateway", "--config", "/etc/ember/host.toml",
                          "--listen", "0.0.0.0:8776"]),
        (sys.executable, [sys.executable, "-m", "volume", "--help"]),
    ]
