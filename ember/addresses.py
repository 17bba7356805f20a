"""Bound and advertised addresses: what a server binds (`listen`) and what it
tells other hosts to dial (`advertise`), with the checks that keep a host from advertising what others cannot reach."""

from __future__ import annotations

import ipaddress
import urllib.parse

from ember.config import redact

WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def split(address: str) -> tuple[str, str]:
    """('host', 'port') of host:port, [v6]:port, or a bare host (port '')."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest.removeprefix(":")
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host, port
    return address, ""


def join(host: str, port: int | str) -> str:
    """host:port ([v6]:port); the bare host when there is no port (NBD
    exports advertise a host, each export has its own port)."""
    if port in ("", None):
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def nats_is_loopback(nats_url: str) -> bool:
    """Whether every server of a (comma-separated) NATS URL is on this machine."""
    hosts = [urllib.parse.urlsplit(url.strip() if "://" in url else f"nats://{url.strip()}").hostname or ""
             for url in nats_url.split(",") if url.strip()]
    return all(is_loopback(host) for host in hosts)


def advertised(setting: str, bound: str, advertise: str, nats_url: str) -> str:
    """The address other hosts are told to dial for a server bound at `bound`
    (host:port, the real port): `advertise` (a host, or host:port) when
    given, else the bound address. SystemExit naming the setting when that
    is a wildcard, or a loopback address while NATS (and so the rest of
    Ember) is on other machines."""
    bound_host, port = split(bound)
    if advertise:
        host, given_port = split(advertise)
        address = join(host, (given_port or port) if port else "")
    elif bound_host in WILDCARDS:
        raise SystemExit(
            f"{_listen_of(setting)} {bound} binds every address, so other hosts cannot be told which one to dial: "
            f"set {setting} (EMBER_{setting.upper()}) to this host's address on the network they share")
    else:
        host, address = bound_host, join(bound_host, port)
    if is_loopback(host) and not nats_is_loopback(nats_url):
        raise SystemExit(
            f"{setting} would be {address}, a loopback address, but nats_url {redact(nats_url)} is on other machines, "
            f"whose services could not reach it: set {setting} (EMBER_{setting.upper()}) to this host's address")
    return address


def _listen_of(setting: str) -> str:
    return setting.replace("advertise", "listen")


def check(settings, servers: tuple[str, ...]) -> None:
    """Refuses (SystemExit) what advertised() would, for each server of a
    process ("" for its gRPC server, "metrics", "nbd"), before it binds anything."""
    for server in servers:
        prefix = f"{server}_" if server else ""
        advertised(f"{prefix}advertise", getattr(settings, f"{prefix}listen"),
                   getattr(settings, f"{prefix}advertise"), settings.nats_url)
