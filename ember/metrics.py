"""Prometheus metrics every Ember process serves on its metrics port: gRPC
calls by method and code with latencies, tasks handled, task queue depth,
and the bytes (and bytes per second) backups, restores and verifies move."""

from __future__ import annotations

import logging
import time

import grpc
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

from ember import addresses
from ember.periodic import Periodic

log = logging.getLogger(__name__)

# From a cached read (~1 ms) to a long backup or a watch that lasts an hour.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)

# The names and labels follow the convention of the Go gRPC middleware, so
# existing dashboards for gRPC servers work on Ember's.
RPC_HANDLED = Counter(
    "grpc_server_handled_total", "gRPC calls finished, by method and status code",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds", "Time from a gRPC call's arrival to its last answer",
    ["grpc_service", "grpc_method"], buckets=LATENCY_BUCKETS,
)
TASKS_HANDLED = Counter(
    "ember_tasks_handled_total", "JetStream tasks handled, by consumer and outcome (ok, retry, failed, malformed)",
    ["consumer", "outcome"],
)
TASK_SECONDS = Histogram(
    "ember_task_handling_seconds", "Time a task handler took, by consumer", ["consumer"], buckets=LATENCY_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "ember_task_queue_depth",
    "Tasks of a durable consumer: pending (not yet delivered) and in_flight (delivered, not acked)",
    ["consumer", "state"],
)
BACKUP_BYTES = Counter(
    "ember_backup_bytes_total", "Bytes of volume data backed up, restored or verified", ["verb"],
)
BACKUP_RATE = Gauge(
    "ember_backup_bytes_per_second", "Bytes per second backed up, restored or verified over the last sample",
    ["verb"],
)
PROCESS = Gauge("ember_process_info", "Which Ember service and instance this process is", ["service", "instance"])

QUEUE_SAMPLE_EVERY = 5.0
RATE_SAMPLE_EVERY = 5.0


def serve(listen: str, service: str, instance: str) -> tuple[object, str]:
    """Starts the HTTP exposition on `listen` (host:port, port 0 = any) in a
    thread of its own, so a scrape never waits on the event loop; returns
    the server (to shut down) and the address it bound."""
    host, port = addresses.split(listen)
    try:
        server, _ = start_http_server(int(port), host or "127.0.0.1")
    except (OSError, ValueError) as exc:
        raise SystemExit(f"metrics_listen {listen}: cannot listen there: {exc}")
    PROCESS.labels(service, instance).set(1)
    return server, addresses.join(host, server.server_address[1])


def split_method(full: str) -> tuple[str, str]:
    service, _, method = full.strip("/").partition("/")
    return service, method


def code_name(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    # grpc.aio gives the StatusCode, or its numeric value when the handler set an int.
    if isinstance(code, grpc.StatusCode):
        return code.name
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))


def observe_call(method: tuple[str, str], code: str, started: float) -> None:
    RPC_HANDLED.labels(method[0], method[1], code).inc()
    RPC_SECONDS.labels(*method).observe(time.perf_counter() - started)


def observe_task(consumer: str, outcome: str, started: float) -> None:
    TASKS_HANDLED.labels(consumer, outcome).inc()
    TASK_SECONDS.labels(consumer).observe(time.perf_counter() - started)


def queue_depth_sampler(consumers: dict[str, object]) -> Periodic:
    """Keeps QUEUE_DEPTH current for `consumers` (durable name -> pull
    subscription), which callers may add to while it runs."""
    async def sample() -> None:
        for durable, sub in list(consumers.items()):
            try:
                info = await sub.consumer_info()
            except Exception as exc:
                # NATS away or electing a leader: the last figures stand.
                log.debug("consumer %s: no info (%s)", durable, exc)
                continue
            QUEUE_DEPTH.labels(durable, "pending").set(info.num_pending or 0)
            QUEUE_DEPTH.labels(durable, "in_flight").set(info.num_ack_pending or 0)

    return Periodic("sampling queue depths", QUEUE_SAMPLE_EVERY, sample, immediately=True)


def backup_rate_sampler(verbs: tuple[str, ...]) -> Periodic:
    """Turns BACKUP_BYTES into BACKUP_RATE every few seconds, so that a
    dashboard without PromQL's rate() (and `ember status`) can show it."""
    def total(verb: str) -> float:
        return REGISTRY.get_sample_value("ember_backup_bytes_total", {"verb": verb}) or 0.0

    every = RATE_SAMPLE_EVERY
    last = {verb: total(verb) for verb in verbs}
    for verb in verbs:
        BACKUP_RATE.labels(verb).set(0)

    async def sample() -> None:
        for verb in verbs:
            now = total(verb)
            BACKUP_RATE.labels(verb).set((now - last[verb]) / every)
            last[verb] = now

    return Periodic("sampling backup rates", every, sample)
