"""Logging for every Ember process: one line per record, as text or JSON,
each carrying the service and the request id of the call or task it serves."""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import re
import uuid

# Clients may name their own request ids (x-request-id); only ids that are
# safe in a log line and a JSON task payload are kept.
REQUEST_ID_KEY = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("ember_request_id", default="")


def request_id() -> str:
    """The id of the request this code serves ('' outside any request)."""
    return _request_id.get()


def set_request_id(value: str) -> None:
    """Sets the id for the current asyncio task (and the tasks it starts)."""
    _request_id.set(value)


def accepted_request_id(value: str) -> str:
    """A client's id if it is well formed, else a new one."""
    return value if value and _VALID_REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class _Context(logging.Filter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers; a record's `fields`
    (logged with extra={"fields": {...}}) become keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "service": getattr(record, "service", ""),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", ""):
            line["request_id"] = record.request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(service)s %(name)s [%(request_id)s]: %(message)s"
FORMATS = ("text", "json")


def configure(service: str, fmt: str = "text", level: int = logging.INFO) -> None:
    if fmt not in FORMATS:
        raise SystemExit(f"log_format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler()
    handler.addFilter(_Context(service))
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
