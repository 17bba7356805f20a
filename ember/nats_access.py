"""Who may do what on NATS: a user per Ember role and host, allowed only the subjects its role's code uses;
the nats-server blocks that enforce it (client certificates, users, routes) and the options clients connect with."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import pathlib
import secrets
import ssl
from typing import Any, Iterable

import nats.aio.client
import nats.aio.transport

from ember import files, pki, subjects
from ember.config import Settings

ADMIN = "admin"
ROUTE_USER = "route"
ROLES = ("gateway", "scheduler", "volume", "backup")
# What `python -m` runs (and `ember serve` names) -> the role whose user it connects as.
MODULE_ROLES = {"api_gateway": "gateway", **{role: role for role in ROLES}}
API = "$JS.API"
# nats-server's own default (2 s) is less than a loaded machine may take to shake hands.
TLS_TIMEOUT = 5
# How long closing a TLS connection waits for the server's goodbye.
CLOSE_GRACE = 1.0


def kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


REGISTRY = kv_stream(subjects.REGISTRY_BUCKET)
CAPABILITIES = kv_stream(subjects.CAPABILITIES_BUCKET)
STREAMS = (subjects.TASKS_STREAM, subjects.EVENTS_STREAM, REGISTRY, CAPABILITIES)


def role_of(module: str) -> str:
    try:
        return MODULE_ROLES[module]
    except KeyError:
        raise ValueError(f"{module} is not an Ember service, so it has no NATS user") from None


def check_token(what: str, value: str) -> str:
    """Host and user names become subject tokens (inboxes, task subjects)."""
    if not value or any(c in value for c in ". *>\t\r\n"):
        raise ValueError(f"{what} {value!r} cannot be a NATS subject token (no dots, spaces, * or >)")
    return value


@dataclasses.dataclass(frozen=True)
class Permissions:
    """Allow-lists: a subject not matched by one of them is refused."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def _declaring() -> list[str]:
    """Every process declares the streams and buckets when it connects
    (Bus.ensure_streams, kv.declare_buckets) and may bring their replicas up."""
    return [f"{API}.STREAM.{verb}.{stream}" for stream in STREAMS for verb in ("INFO", "CREATE", "UPDATE")]


def _watching(stream: str) -> list[str]:
    """Ordered consumers (KV watchers, event waiters): randomly named, flow-controlled."""
    return [f"{API}.CONSUMER.CREATE.{stream}", f"{API}.CONSUMER.INFO.{stream}.*", f"$JS.FC.{stream}.>"]


def _consuming(durable: str, tasks: str) -> list[str]:
    """Pulling and acking the tasks of one durable. It is created only with
    its filter in the subject, which nats-server matches against the request:
    a consumer of this name that filtered another host's tasks is refused."""
    stream = subjects.TASKS_STREAM
    return [f"{API}.CONSUMER.INFO.{stream}.{durable}", f"{API}.CONSUMER.CREATE.{stream}.{durable}.{tasks}",
            f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}", f"$JS.ACK.{stream}.{durable}.>"]


def _registering(role: str) -> list[str]:
    """Its own instances' registry keys, and watching the registry (Directory, Heartbeat.others)."""
    return [f"$KV.{subjects.REGISTRY_BUCKET}.{role}.>", *_watching(REGISTRY)]


EVENTS = subjects.EVENTS_SUBJECTS
# Resources' watch streams find the EVENTS stream by subject.
FIND_STREAM = f"{API}.STREAM.NAMES"


def _tasks(role: str, host: str) -> list[str]:
    """The task subjects `role` on `host` starts or passes on work with."""
    return {
        "gateway": [],
        "scheduler": [subjects.volume_tasks("*")],
        # Its own host's tasks only: the gateway routes a volume's deletes and
        # snapshots to its host, and each host's reconciler re-publishes only
        # its own unfinished tasks, so another host's queue is never needed.
        "volume": [subjects.SCHEDULER_TASKS, subjects.BACKUP_TASKS, subjects.volume_tasks(host)],
        # Restores into a new volume start with the scheduler's create.
        "backup": [subjects.BACKUP_TASKS, subjects.SCHEDULER_TASKS],
    }[role]


def task_prefixes(role: str, host: str) -> tuple[str, ...]:
    """What every task subject `role` on `host` may publish starts with."""
    return tuple(pattern.split("*", 1)[0].removesuffix(">") for pattern in _tasks(role, host))


def _role_publish(role: str, host: str) -> list[str]:
    tasks = _tasks(role, host)
    if role == "gateway":
        # `ember status`: the streams and their task queues.
        return [*_watching(CAPABILITIES),
                *(f"{API}.CONSUMER.LIST.{s}" for s in (subjects.TASKS_STREAM, subjects.EVENTS_STREAM))]
    if role == "scheduler":
        return [*_watching(CAPABILITIES), *_consuming(subjects.SCHEDULER_DURABLE, subjects.SCHEDULER_TASKS),
                *tasks, EVENTS]
    if role == "volume":
        return [*_watching(CAPABILITIES), *_watching(subjects.EVENTS_STREAM), FIND_STREAM,
                f"$KV.{subjects.CAPABILITIES_BUCKET}.{host}.>",
                *_consuming(subjects.volume_durable(host), subjects.volume_tasks(host)), *tasks, EVENTS]
    if role == "backup":
        return [*_watching(subjects.EVENTS_STREAM), FIND_STREAM,
                *_consuming(subjects.BACKUP_DURABLE, subjects.BACKUP_TASKS), *tasks, EVENTS]
    raise ValueError(f"no NATS role {role!r}")


@dataclasses.dataclass(frozen=True)
class User:
    """A NATS user: `role` on `host`, named <role>-<host> unless `name` says
    otherwise (a second name for the same role and host lets its password
    be rotated without cutting off the processes that use the first)."""

    role: str
    host: str = ""
    name: str = ""

    def __post_init__(self):
        if self.role != ADMIN:
            role_of(self.role)
            check_token("host", self.host)
        if not self.name:
            object.__setattr__(self, "name", ADMIN if self.role == ADMIN else f"{self.role}-{self.host}")
        check_token("NATS user", self.name)

    @property
    def inbox(self) -> str:
        """Its replies arrive under this prefix and no other user's can: with
        a shared `_INBOX.>` anyone could read the tasks pulled by others."""
        return inbox(self.name)

    def permissions(self) -> Permissions | None:
        """None for the admin, who may do anything."""
        if self.role == ADMIN:
            return None
        publish = [*_declaring(), *_registering(self.role), *_role_publish(self.role, self.host)]
        subscribe = [f"{self.inbox}.>", *([EVENTS] if self.role == "gateway" else [])]
        return Permissions(tuple(dict.fromkeys(publish)), tuple(subscribe))


def inbox(user: str) -> str:
    return f"_INBOX.{user}"


class Passwords:
    """One random password per NATS user, each in a file of its own (mode
    0600) under `directory`: made on first use and kept, so that a restart
    finds the same ones."""

    def __init__(self, directory: pathlib.Path):
        self.directory = directory

    def file(self, user: str) -> pathlib.Path:
        path = self.directory / f"{check_token('NATS user', user)}.password"
        if not path.exists():
            files.write_private(path, secrets.token_urlsafe(32) + "\n")
        return path

    def read(self, user: str) -> str:
        return self.file(user).read_text().strip()


def tls_block(tls: pki.TlsFiles) -> str:
    """Only clients (or routes) showing a certificate the internal CA signed get past the handshake."""
    return "tls " + json.dumps({"cert_file": str(tls.cert), "key_file": str(tls.key), "ca_file": str(tls.ca),
                                "verify": True, "timeout": TLS_TIMEOUT}) + "\n"


def authorization_block(users: Iterable[User], passwords: Passwords) -> str:
    """The users block of nats-server (passwords in plain text: keep the file 0600)."""
    entries = []
    for user in users:
        entry: dict[str, Any] = {"user": user.name, "password": passwords.read(user.name)}
        allowed = user.permissions()
        if allowed is not None:
            entry["permissions"] = {"publish": {"allow": list(allowed.publish)},
                                    "subscribe": {"allow": list(allowed.subscribe)}}
        entries.append("    " + json.dumps(entry))
    return "authorization {\n  users: [\n" + "\n".join(entries) + "\n  ]\n}\n"


def server_access(users: Iterable[User], passwords: Passwords, tls: pki.TlsFiles | None) -> str:
    """The client side of a nats-server's configuration: TLS with client
    certificates (when `tls`) and the users; nats-server re-reads it on SIGHUP."""
    return (tls_block(tls) if tls else "") + authorization_block(users, passwords)


@dataclasses.dataclass(frozen=True)
class Route:
    """What the nodes of a cluster show each other: one route user, and the
    host certificates (when `tls`) both ways."""

    password: str
    tls: pki.TlsFiles | None = None
    user: str = ROUTE_USER

    def url(self, address: str) -> str:
        return f"nats-route://{self.user}:{self.password}@{address}"

    def block(self) -> str:
        """The lines inside a `cluster { }` block."""
        auth = json.dumps({"user": self.user, "password": self.password})
        return f"  authorization {auth}\n" + (f"  {tls_block(self.tls)}" if self.tls else "")


class _Transport(nats.aio.transport.TcpTransport):
    """nats-py's TCP transport, except that a TLS connection waits at most
    CLOSE_GRACE for the server's close_notify before it is cut. asyncio (and
    uvloop) wait 30 s for it, and nats-py waits for that before it connects
    elsewhere: a server cut off by the network would hold every service
    for half a minute after its pings had told (bus.PING_INTERVAL)."""

    def close(self):
        writer = self._io_writer
        super().close()
        if writer is not None and writer is not self._bare_io_writer:
            asyncio.get_running_loop().call_later(CLOSE_GRACE, writer.transport.abort)


# nats-py makes its transports itself, with no option to choose one.
nats.aio.client.TcpTransport = _Transport


class _TlsEofNoise(logging.Filter):
    """asyncio warns of each TLS connection its server closes, as nats-py
    reads TLS with a protocol set up for plain TCP; nothing is amiss."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


logging.getLogger("asyncio").addFilter(_TlsEofNoise())


def tls_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """Trusts only servers the internal CA signed, and shows this host's certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pathlib.Path(ca).expanduser()))
    context.load_cert_chain(str(pathlib.Path(cert).expanduser()), str(pathlib.Path(key).expanduser()))
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """nats.connect() keywords for this process: mutual TLS with the internal
    CA when tls_ca, tls_cert and tls_key are set; with nats_user, that user,
    the password its file holds, and the user's own inbox prefix."""
    options: dict[str, Any] = {}
    if settings.tls_ca and settings.tls_cert and settings.tls_key:
        options["tls"] = tls_context(settings.tls_ca, settings.tls_cert, settings.tls_key)
    if not settings.nats_user:
        return options
    if not settings.nats_password_file:
        raise SystemExit("nats_user is set but nats_password_file is not (EMBER_NATS_PASSWORD_FILE)")
    path = pathlib.Path(settings.nats_password_file).expanduser()
    try:
        password = path.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"nats_password_file: cannot read {path}: {exc.strerror}")
    return {**options, "user": settings.nats_user, "password": password,
            "inbox_prefix": inbox(check_token("nats_user", settings.nats_user))}


class Access:
    """The NATS users of one Ember and the directory of their passwords:
    what its nats-servers' configuration lists, and what each process is
    told to connect as. The admin (operators, tools, tests) is always there."""

    def __init__(self, directory: pathlib.Path):
        self.passwords = Passwords(directory)
        self.users: dict[str, User] = {ADMIN: User(ADMIN)}

    def add(self, user: User) -> bool:
        """Whether `user` is new, and nats-server must re-read its configuration."""
        if self.users.get(user.name) == user:
            return False
        self.users[user.name] = user
        return True

    def conf(self, tls: pki.TlsFiles | None) -> str:
        return server_access(self.users.values(), self.passwords, tls)

    def write(self, path: pathlib.Path, tls: pki.TlsFiles | None) -> pathlib.Path:
        """The file a nats-server conf includes, with `tls` as that server's
        own certificate; 0600, as it holds the passwords."""
        files.write_private(path, self.conf(tls))
        return path

    def route(self, tls: pki.TlsFiles | None) -> Route:
        """The route user every node of a cluster shares, with `tls` as the node's own certificate."""
        return Route(self.passwords.read(ROUTE_USER), tls)

    def settings(self, user: User) -> dict[str, str]:
        """The Settings fields that make a process connect as `user`."""
        return {"nats_user": user.name, "nats_password_file": str(self.passwords.file(user.name))}

    def env(self, user: User) -> dict[str, str]:
        """The same as EMBER_* variables, for a child process."""
        return {f"EMBER_{name.upper()}": value for name, value in self.settings(user).items()}

    def client_options(self, user: User, tls: pki.TlsFiles | None) -> dict[str, Any]:
        """nats.connect() keywords for `user` showing the certificate of `tls`."""
        paths = {"tls_ca": str(tls.ca), "tls_cert": str(tls.cert), "tls_key": str(tls.key)} if tls else {}
        return client_options(Settings(**paths, **self.settings(user)))
