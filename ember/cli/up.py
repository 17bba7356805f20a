"""`ember up`: nats-server with JetStream, then one of each service, all under
one data directory on loopback, until Ctrl-C stops them in reverse order."""

from __future__ import annotations

import os
import signal
import sys

from ember import auth, config, launcher


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def run(args) -> None:
    settings = config.from_args(args)
    data_dir = settings.data_path
    data_dir.mkdir(parents=True, exist_ok=True)
    auth.load_secret(settings.auth_secret, data_dir, create=True)
    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    started: list[launcher.Process] = []
    failed = False
    try:
        nats = launcher.start_nats(data_dir, args.nats_port)
        started.append(nats)
        env = config.to_env(settings)
        env.update(EMBER_DATA_DIR=str(data_dir), EMBER_NATS_URL=nats.address)
        for module in launcher.SERVICES:
            listen = settings.listen if module == "api_gateway" else "127.0.0.1:0"
            proc = launcher.start_service(module, dict(env, EMBER_LISTEN=listen), data_dir / "logs")
            started.append(proc)
            print(f"{proc.name:<12} {proc.address}", flush=True)
        print(f"Ember is up: gateway {started[-1].address}, logs in {data_dir / 'logs'}; Ctrl-C stops it.", flush=True)
        pid, _ = os.wait()
        dead = next((p.name for p in started if p.popen.pid == pid), str(pid))
        print(f"{dead} exited; stopping Ember (its log is in {data_dir / 'logs'})", file=sys.stderr)
        failed = True
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the orderly stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in reversed(started):
            proc.stop()
        print("Ember stopped.", flush=True)
    if failed:
        raise SystemExit(1)


def add_parser(commands, settings_parent) -> None:
    up = commands.add_parser("up", parents=[settings_parent], help="run all of Ember on this machine")
    up.add_argument("--nats-port", type=int, default=4222, help="port of the embedded nats-server")
    up.set_defaults(run=run)
