"""Request ids in logs and tasks, the JSON log format, and the metrics
helpers, without a network."""

import asyncio
import contextvars
import json
import logging

import grpc
import pytest
from prometheus_client import REGISTRY

from ember import logs, metrics, outbox
from ember.progress import Progress


def record(message: str, **extra) -> logging.LogRecord:
    return logging.LogRecord("ember.test", logging.INFO, __file__, 1, message, (), None, **extra)


def test_client_request_ids_are_kept_only_when_safe():
    assert logs.accepted_request_id("req-1.2:3_x") == "req-1.2:3_x"
    for bad in ("", "has space", "x" * 65, 'quote"', "new\nline"):
        replaced = logs.accepted_request_id(bad)
        assert replaced != bad and len(replaced) == 32


def test_json_lines_carry_service_request_id_and_fields():
    def in_request():
        logs.set_request_id("rid-7")
        line = record("task done")
        logs._Context("volume").filter(line)
        line.fields = {"task": "ember.tasks.x", "duration_ms": 1.5}
        return json.loads(logs.JsonFormatter().format(line))

    parsed = contextvars.copy_context().run(in_request)
    assert parsed["service"] == "volume" and parsed["request_id"] == "rid-7"
    assert parsed["message"] == "task done" and parsed["task"] == "ember.tasks.x" and parsed["duration_ms"] == 1.5
    outside = record("idle")
    logs._Context("volume").filter(outside)
    assert "request_id" not in json.loads(logs.JsonFormatter().format(outside))


def test_an_unknown_log_format_is_refused():
    with pytest.raises(SystemExit, match="log_format must be one of text, json"):
        logs.configure("gateway", "yaml")


def test_tasks_made_while_serving_a_request_carry_its_id():
    def in_request():
        logs.set_request_id("rid-9")
        return outbox.Task("s", "m", {"operation_id": "o"})

    assert contextvars.copy_context().run(in_request).payload == {"operation_id": "o", "request_id": "rid-9"}
    # Outside a request (the reconciler re-publishing), the payload is left as it is.
    assert contextvars.copy_context().run(outbox.Task, "s", "m", {"a": 1}).payload == {"a": 1}


class Context:
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code


def test_status_codes_are_named_whatever_form_grpc_gives():
    assert metrics.code_name(Context(None)) == "OK"
    assert metrics.code_name(Context(grpc.StatusCode.NOT_FOUND)) == "NOT_FOUND"
    assert metrics.code_name(Context(grpc.StatusCode.UNAVAILABLE.value[0])) == "UNAVAILABLE"


def test_progress_counts_every_byte_once_into_its_meter():
    class Loop:
        pass

    meter = metrics.BACKUP_BYTES.labels("unit-test")
    before = REGISTRY.get_sample_value("ember_backup_bytes_total", {"verb": "unit-test"})
    progress = Progress(None, Loop(), "op", "backups", "b", meter=meter)
    progress.reported = 100  # no progress events: this test has no loop to send them on
    for done in (10, 10, 25, 40):
        progress(done, 1000)
    assert REGISTRY.get_sample_value("ember_backup_bytes_total", {"verb": "unit-test"}) - before == 40


async def test_backup_rate_is_bytes_per_second_over_the_last_sample(monkeypatch):
    monkeypatch.setattr(metrics, "RATE_SAMPLE_EVERY", 0.2)
    sampler = metrics.backup_rate_sampler(("rate-test",))
    await sampler.start()
    await asyncio.sleep(0.05)
    assert REGISTRY.get_sample_value("ember_backup_bytes_per_second", {"verb": "rate-test"}) == 0
    metrics.BACKUP_BYTES.labels("rate-test").inc(1000)
    await asyncio.sleep(0.25)
    await sampler.stop()
    assert REGISTRY.get_sample_value("ember_backup_bytes_per_second", {"verb": "rate-test"}) == pytest.approx(5000)


def test_a_busy_metrics_port_is_refused_with_the_address():
    server, address = metrics.serve("127.0.0.1:0", "test", "one")
    try:
        with pytest.raises(SystemExit, match=f"metrics_listen {address}: cannot listen there"):
            metrics.serve(address, "test", "two")
    finally:
        server.shutdown()
