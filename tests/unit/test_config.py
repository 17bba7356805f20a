"""Settings on the command line: --help shows each default, but never a
secret or the password inside a database or NATS URL; flags and EMBER_*
variables are read by the setting's type (booleans, durations, lists)."""

import argparse
import dataclasses
import os

import pytest

from ember import config
from ember.config import Settings
from ember.setting_types import Seconds


def help_text(monkeypatch, **env) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return parser.format_help()


def test_help_hides_the_secret_and_url_passwords(monkeypatch):
    text = help_text(monkeypatch, EMBER_AUTH_SECRET="topsecret", EMBER_DATABASE_URL="postgresql://ember:pw1@db/e",
                     EMBER_NATS_URL="nats://a:pw2@n1:4222,nats://b:pw3@n2:4222")
    for leaked in ("topsecret", "pw1", "pw2", "pw3"):
        assert leaked not in text
    assert "postgresql://ember:***@db/e" in " ".join(text.split())


def test_redact_leaves_urls_without_passwords_alone():
    for plain in ("sqlite:///var/lib/ember/ember.db", "nats://127.0.0.1:4222", "postgresql://ember@db/e", "50%"):
        assert config.redact(plain) == plain


@dataclasses.dataclass
class Sample:
    """One setting of each parsed type, read the way Ember's own are."""

    verbose: bool = dataclasses.field(default=False, metadata={"help": "a boolean"})
    wait: Seconds = dataclasses.field(default=30.0, metadata={"help": "a duration"})
    names: list[str] = dataclasses.field(default_factory=lambda: ["a"], metadata={"help": "a list"})


@pytest.fixture(autouse=True)
def no_ember_variables(monkeypatch):
    for name in [name for name in os.environ if name.startswith("EMBER_")]:
        monkeypatch.delenv(name)


def read(monkeypatch, *argv: str, **env: str) -> Sample:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser()
    config.add_arguments(parser, settings_class=Sample)
    return config.from_args(parser.parse_args(argv), Sample)


def refusal(monkeypatch, capsys, *argv: str, **env: str) -> str:
    with pytest.raises(SystemExit):
        read(monkeypatch, *argv, **env)
    return " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("text, value", [
    *((text, True) for text in ("true", "TRUE", "1", "yes", "On")),
    *((text, False) for text in ("false", "False", "0", "no", "OFF")),
])
def test_booleans_read_every_form_from_flags_and_variables(monkeypatch, text, value):
    assert read(monkeypatch, "--verbose", text).verbose is value
    assert read(monkeypatch, EMBER_VERBOSE=text).verbose is value


def test_false_is_false_even_over_a_true_variable(monkeypatch):
    assert read(monkeypatch, EMBER_VERBOSE="true").verbose is True
    assert read(monkeypatch, "--verbose", "false").verbose is False
    monkeypatch.delenv("EMBER_VERBOSE")
    assert read(monkeypatch).verbose is False


def test_a_bad_boolean_is_refused_naming_the_setting(monkeypatch, capsys):
    for message in (refusal(monkeypatch, capsys, "--verbose", "maybe"),
                    refusal(monkeypatch, capsys, EMBER_VERBOSE="maybe")):
        assert "--verbose: 'maybe' is not a boolean" in message
        assert "setting verbose" in message and "$EMBER_VERBOSE" in message


@pytest.mark.parametrize("text, seconds", [
    ("30", 30.0), ("0.5", 0.5), ("1e3", 1000.0), ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0),
    ("1.5h", 5400.0), (" 10s ", 10.0),
])
def test_durations_read_seconds_or_a_unit_from_flags_and_variables(monkeypatch, text, seconds):
    assert read(monkeypatch, "--wait", text).wait == pytest.approx(seconds)
    assert read(monkeypatch, EMBER_WAIT=text).wait == pytest.approx(seconds)


def test_ember_durations_take_units(monkeypatch):
    monkeypatch.setenv("EMBER_TASK_ACK_WAIT", "5m")
    settings = config.parse(["--call-timeout", "500ms", "--outbox-retry-after", "2.5"])
    assert (settings.task_ack_wait, settings.call_timeout, settings.outbox_retry_after) == (300.0, 0.5, 2.5)


@pytest.mark.parametrize("bad", ["5x", "ms", "5 m", "-5s", "5M"])
def test_a_bad_duration_is_refused_naming_the_setting(monkeypatch, capsys, bad):
    for message in (refusal(monkeypatch, capsys, f"--wait={bad}"), refusal(monkeypatch, capsys, EMBER_WAIT=bad)):
        assert f"--wait: {bad!r} is not a duration" in message
        assert "setting wait" in message and "$EMBER_WAIT" in message


def test_lists_are_comma_separated_in_flags_and_variables(monkeypatch):
    assert read(monkeypatch).names == ["a"]
    assert read(monkeypatch, "--names", "x, y,,z").names == ["x", "y", "z"]
    assert read(monkeypatch, EMBER_NAMES="x,y").names == ["x", "y"]


def test_a_bad_integer_is_refused_naming_the_setting(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        config.parse(["--task-max-deliver", "many"])
    message = " ".join(capsys.readouterr().err.split())
    assert "--task-max-deliver: 'many' is not an integer (setting task_max_deliver" in message


def test_variables_for_child_processes_read_back_the_same(monkeypatch):
    sample = Sample(verbose=True, wait=0.25, names=["p1", "p2"])
    env = config.to_env(sample)
    assert env == {"EMBER_VERBOSE": "true", "EMBER_WAIT": "0.25", "EMBER_NAMES": "p1,p2"}
    assert read(monkeypatch, **env) == sample
    ours = Settings(task_ack_wait=8.0, database_url="sqlite:///x.db")
    for name, value in config.to_env(ours).items():
        monkeypatch.setenv(name, value)
    assert config.parse([]) == ours
