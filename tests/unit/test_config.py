"""Settings on the command line: --help shows each default, but never a
secret or the password inside a database or NATS URL."""

import argparse

from ember import config


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
