"""`ember up`: nats-server with JetStream (or a cluster of them), then one of
each service, all under one data directory on loopback, until Ctrl-C stops
them in reverse order."""

from __future__ import annotations

import os
import signal
import sys

from ember import auth, config, launcher


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _wait_for_a_fatal_exit(mesh: launcher.Mesh) -> str:
    """The name of the first child whose exit ends Ember: any service, or a
    nats-server unless it is one of a cluster's nodes, which the rest outlive."""
    nodes = list(mesh.nats_nodes) if len(mesh.nats_nodes) > 1 else []
    while True:
        pid, _ = os.wait()
        node = next((n for n in nodes if n.popen.pid == pid), None)
        if node is None:
            return next((p.name for p in [*mesh.nats_nodes, *mesh.processes] if p.popen.pid == pid), str(pid))
        print(f"{node.name} exited; the other NATS nodes carry on (its log: {node.log_path})", file=sys.stderr)
        nodes.remove(node)


def run(args) -> None:
    if args.nats_cluster == 2 or args.nats_cluster < 1:
        # JetStream needs a majority of its nodes: two cannot lose one.
        raise SystemExit("--nats-cluster takes 1 or at least 3 nodes")
    settings = config.from_args(args)
    data_dir = settings.data_path
    data_dir.mkdir(parents=True, exist_ok=True)
    auth.load_secret(settings.auth_secret, data_dir, create=True)
    # Installed explicitly: a shell starts background jobs with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    mesh = launcher.Mesh(data_dir, config.to_env(settings))
    failed = False
    try:
        mesh.start_nats(args.nats_port, nodes=args.nats_cluster)
        mesh.start_all(gateway_listen=settings.listen)
        for proc in [*(mesh.nats_nodes if len(mesh.nats_nodes) > 1 else ()), *mesh.processes]:
            print(f"{proc.name:<12} {proc.address}", flush=True)
        print(f"Ember is up: gateway {mesh.gateway}, logs in {data_dir / 'logs'}; Ctrl-C stops it.", flush=True)
        dead = _wait_for_a_fatal_exit(mesh)
        print(f"{dead} exited; stopping Ember (its log is in {data_dir / 'logs'})", file=sys.stderr)
        failed = True
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        failed = True
    finally:
        # A second Ctrl-C must not cut the orderly stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name in mesh.stop():
            print(f"{name} did not stop within its grace period and was killed", file=sys.stderr)
        print("Ember stopped.", flush=True)
    if failed:
        raise SystemExit(1)


def add_parser(commands, settings_parent) -> None:
    up = commands.add_parser("up", parents=[settings_parent], help="run all of Ember on this machine")
    up.add_argument("--nats-port", type=int, default=4222, help="port of the embedded nats-server (of the first node)")
    up.add_argument(
        "--nats-cluster", type=int, default=1, metavar="N",
        help="run N nats-server nodes on consecutive ports from --nats-port (routes 2000 above), "
        "streams and KV buckets at 3 replicas",
    )
    up.set_defaults(run=run)
