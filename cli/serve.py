"""`ember serve SERVICE`: one service in the foreground, the very process
`python -m <its package>` is, reading --config FILE, EMBER_* and its flags."""

from __future__ import annotations

import argparse
import os
import sys

# The config file's table names, and the package each runs as.
MODULES = {"gateway": "api_gateway", "scheduler": "scheduler", "volume": "volume", "backup": "backup"}


def run(args) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    # Exec, not a child: signals reach the service, and its exit status is ours.
    os.execv(sys.executable, [sys.executable, "-m", MODULES[args.service], *args.service_args])


def add_parser(commands) -> None:
    serve = commands.add_parser(
        "serve", help="run one service in the foreground (settings from --config FILE)",
        description="Runs one Ember service until SIGINT or SIGTERM, as `python -m api_gateway|scheduler|volume|"
        "backup` does. `ember serve SERVICE --help` lists the service's settings and where each came from.",
    )
    serve.add_argument("service", choices=MODULES, help="which service; also its table in the config file")
    serve.add_argument("service_args", nargs=argparse.REMAINDER, metavar="...",
                       help="--config FILE (TOML; or $EMBER_CONFIG) and the service's own flags")
    serve.set_defaults(run=run)
