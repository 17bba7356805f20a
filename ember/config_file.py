"""Settings from a TOML file: top-level keys for every service on the host,
a [gateway], [scheduler], [volume] or [backup] table for one of them."""

from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
import typing
from typing import Any

from ember.setting_types import Seconds, parser_for

SERVICES = ("gateway", "scheduler", "volume", "backup")
# Text settings that hold a list: the file may give them as an array, which
# becomes the comma-separated text their flags take...
COMMA_LISTS = frozenset({"nats_url", "pools", "failpoints"})
# ...or, for the JSON list of backends, as an array of tables.
JSON_LISTS = frozenset({"backends"})


@dataclasses.dataclass(frozen=True)
class FileValue:
    """A setting's value from the file, and where in it it was: `path` or `path [table]`."""

    value: Any
    origin: str


def load(path: str, service: str | None, settings_class: type) -> dict[str, FileValue]:
    """The settings `path` gives `service` (None: its top-level keys only),
    each read by the type its setting is declared with. Every table is
    checked, so a mistake anywhere in the file stops whichever service reads it."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise ValueError(f"cannot read the config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"config file {path} is not valid TOML: {error}") from None
    annotations = typing.get_type_hints(settings_class)
    top = {key: value for key, value in document.items() if key not in SERVICES or not isinstance(value, dict)}
    values = _read_table(path, "", top, annotations)
    for table in SERVICES:
        own = _read_table(path, table, document.get(table, {}), annotations)
        if table == service:
            values.update(own)
    return values


def _read_table(path: str, table: str, keys: dict[str, Any], annotations: dict[str, Any]) -> dict[str, FileValue]:
    origin = f"{path} [{table}]" if table else path
    values = {}
    for key, value in keys.items():
        where = f"{path} {f'[{table}]' if table else '(top level)'}: {key}"
        if key not in annotations:
            what = "is not a setting"
            if not table and isinstance(value, dict):
                what = "is neither a setting nor one of the tables " + ", ".join(f"[{name}]" for name in SERVICES)
            raise ValueError(f"{where} {what}{_closest(key, table, annotations)}")
        try:
            values[key] = FileValue(convert(key, value, annotations[key]), origin)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return values


def _closest(key: str, table: str, annotations: dict[str, Any]) -> str:
    names = [*annotations, *([] if table else SERVICES)]
    close = difflib.get_close_matches(key, names, n=1)
    if not close:
        return ""
    return f"; did you mean [{close[0]}]?" if close[0] in SERVICES else f"; did you mean {close[0]}?"


def convert(name: str, value: Any, annotation: Any) -> Any:
    """`value` as TOML gave it, as setting `name` of type `annotation`
    holds it; text goes through the parser flags use, so "5m" is a duration."""
    if isinstance(value, str):
        return parser_for(annotation)(value)
    if typing.get_origin(annotation) is list and isinstance(value, list):
        (item,) = typing.get_args(annotation)
        return [convert(name, part, item) for part in value]
    if isinstance(value, bool):
        if annotation is bool:
            return value
    elif annotation in (float, Seconds) and isinstance(value, (int, float)):
        return float(value)
    elif annotation is int and isinstance(value, int):
        return value
    elif name in COMMA_LISTS and isinstance(value, list) and all(isinstance(part, str) for part in value):
        return ",".join(value)
    elif name in JSON_LISTS and isinstance(value, list):
        try:
            return json.dumps(value)
        except TypeError as error:
            raise ValueError(f"cannot be written as JSON: {error}") from None
    raise ValueError(f"{_kind(value)} does not fit: the setting takes {_wanted(name, annotation)}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _wanted(name: str, annotation: Any) -> str:
    if annotation is bool:
        return "true or false"
    if annotation is Seconds:
        return 'seconds, or text such as "500ms", "5m" or "2h"'
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if typing.get_origin(annotation) is list:
        return "an array or comma-separated text"
    if name in COMMA_LISTS:
        return "text or an array of text"
    if name in JSON_LISTS:
        return "JSON text or an array of tables"
    return "text"
