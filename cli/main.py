"""Entry point of the `ember` command."""

from __future__ import annotations

import argparse

from ember import config
from cli import attach, backups, instance, nats, pki, serve, snapshots, status, tokens, up, volumes


def parser() -> argparse.ArgumentParser:
    settings_parent = argparse.ArgumentParser(add_help=False)
    config.add_arguments(settings_parent, listen=config.GATEWAY_ADDRESS)
    root = argparse.ArgumentParser(prog="ember", description="Ember block storage")
    commands = root.add_subparsers(dest="command", required=True)
    up.add_parser(commands, settings_parent)
    serve.add_parser(commands)
    tokens.add_parser(commands, settings_parent)
    volumes.add_parser(commands)
    attach.add_parser(commands)
    instance.add_parser(commands)
    snapshots.add_parser(commands)
    backups.add_parser(commands)
    status.add_parser(commands)
    pki.add_parser(commands)
    nats.add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
