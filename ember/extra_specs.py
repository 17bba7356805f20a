"""Volume-type extra specs, Cinder's way: which keys are matched against a
pool's capabilities, the operators a requirement may use, and the match.

    "<is> True"        boolean equality        "<in> ssd"     substring
    "= 100"            number at least 100     "== 100"       number equal
    "!= 100"           number not equal        ">= 1", "<= 9" number bounds
    "s== abc" (also s!=, s>=, s<=, s>, s<)     string comparisons
    "<or> a <or> b"    any of the alternatives
    "abc"              string equality (no operator)
"""

from __future__ import annotations

import operator
from typing import Callable

CAPABILITY_SCOPE = "capabilities"
PROVISIONING_TYPE = "provisioning:type"
AVAILABILITY_ZONES = "RESKEY:availability_zones"
PROVISIONING_TYPES = ("thin", "thick")
MULTIATTACH = "multiattach"

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
}
_STRING: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq,
    "s!=": operator.ne,
    "s>=": operator.ge,
    "s<=": operator.le,
    "s>": operator.gt,
    "s<": operator.lt,
}
_TRUE = ("true", "1", "yes", "on")


class BadSpec(ValueError):
    """An extra spec whose requirement cannot be read; str() says why."""


def capability_key(key: str) -> str | None:
    """The capability an extra spec key refers to, or None for keys with
    another scope (provisioning:type, RESKEY:..., vendor:...), which the
    capabilities filter leaves alone."""
    scope, sep, rest = key.partition(":")
    if not sep:
        return key
    return rest if scope == CAPABILITY_SCOPE else None


def _parse(requirement: str) -> tuple[str, list[str]]:
    words = requirement.split()
    if not words:
        return "", [""]
    op = words[0]
    if op == "<or>":
        alternatives = words[1::2]
        if not alternatives or any(w != "<or>" for w in words[2::2]):
            raise BadSpec(f"{requirement!r}: write alternatives as '<or> a <or> b'")
        return op, alternatives
    if op in _NUMERIC or op in _STRING or op in ("<is>", "<in>"):
        if len(words) != 2:
            raise BadSpec(f"{requirement!r}: operator {op} takes exactly one value")
        if op in _NUMERIC:
            try:
                float(words[1])
            except ValueError:
                raise BadSpec(f"{requirement!r}: operator {op} needs a number")
        return op, words[1:]
    return "", [requirement]


def check(key: str, requirement: str) -> None:
    """Raises BadSpec when the spec could never be evaluated."""
    if key == PROVISIONING_TYPE and requirement not in PROVISIONING_TYPES:
        raise BadSpec(f"{key} must be one of {', '.join(PROVISIONING_TYPES)}, not {requirement!r}")
    if capability_key(key) is not None:
        _parse(requirement)


def matches(capability: str | None, requirement: str) -> bool:
    """Whether a pool's capability value meets an extra spec's requirement."""
    if capability is None:
        return False
    op, values = _parse(requirement)
    value = values[0]
    if op == "<or>":
        return capability in values
    if op == "<is>":
        return (capability.lower() in _TRUE) == (value.lower() in _TRUE)
    if op == "<in>":
        return value in capability
    if op in _STRING:
        return _STRING[op](capability, value)
    if op in _NUMERIC:
        try:
            return _NUMERIC[op](float(capability), float(value))
        except ValueError:
            return False
    return capability == value


def unmet(capabilities: dict[str, str], extra_specs: dict[str, str]) -> list[str]:
    """The capability specs a pool does not meet, each as 'key requirement (has value)'."""
    missed = []
    for key, requirement in sorted(extra_specs.items()):
        name = capability_key(key)
        if name is None:
            continue
        have = capabilities.get(name)
        if not matches(have, requirement):
            missed.append(f"{name} {requirement!r} (has {have!r})" if have is not None else f"{name} {requirement!r} (not reported)")
    return missed


def zones(extra_specs: dict[str, str]) -> list[str]:
    """The zones a type restricts its volumes to; empty means any."""
    return [z.strip() for z in extra_specs.get(AVAILABILITY_ZONES, "").split(",") if z.strip()]


def multiattach(extra_specs: dict[str, str]) -> bool:
    """Whether a type lets its volumes have several attachments at once ("multiattach": "<is> True")."""
    return MULTIATTACH in extra_specs and matches("True", extra_specs[MULTIATTACH])


def thick(extra_specs: dict[str, str]) -> bool:
    return extra_specs.get(PROVISIONING_TYPE) == "thick"
