"""How a setting's text (a flag or an EMBER_* variable) becomes its value and
back, chosen by the type the setting is declared with: bool, Seconds, list."""

from __future__ import annotations

import re
import typing
from typing import Any, Callable

# A duration, held as a float of seconds; written as seconds ("30", "0.5")
# or as a number with a unit ("500ms", "30s", "5m", "2h").
Seconds = typing.NewType("Seconds", float)

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)")

Parse = Callable[[str], Any]


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean: use true or false, 1 or 0, yes or no, on or off")


def parse_seconds(text: str) -> float:
    try:
        # What duration settings took before units: 30, 0.5, 1e3.
        return float(text)
    except ValueError:
        pass
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: give seconds, as in 30 or 0.5, or a number with "
                         "ms, s, m or h, as in 500ms, 30s, 5m or 2h")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _plain(kind: type, noun: str) -> Parse:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {noun}") from None

    return parse


def _list_of(item: Parse) -> Parse:
    def parse_list(text: str) -> list:
        return [item(part.strip()) for part in text.split(",") if part.strip()]

    return parse_list


def parser_for(annotation: Any) -> Parse:
    """The text-to-value function for a setting declared as `annotation`."""
    if annotation is bool:
        return parse_bool
    if annotation is Seconds:
        return parse_seconds
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return _list_of(parser_for(item))
    if annotation is int:
        return _plain(int, "an integer")
    if annotation is float:
        return _plain(float, "a number")
    if annotation is str:
        return str
    raise TypeError(f"settings cannot be of type {annotation!r}")


def hint(annotation: Any) -> str:
    """What --help adds about how to write a value of this type."""
    if annotation is bool:
        return "true or false"
    if annotation is Seconds:
        return "seconds or 500ms, 5m, 2h"
    if typing.get_origin(annotation) is list:
        return "comma separated"
    return ""


def format_value(value: Any) -> str:
    """`value` as text its setting's parser reads back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(item) for item in value)
    return str(value)
