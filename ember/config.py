"""Settings for every Ember process, read from flags, then `EMBER_*` variables,
then a config file (--config), then defaults; each service picks the sections it needs."""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import re
import socket
import typing
from typing import Any

from ember import config_file
from ember.config_file import FileValue
from ember.setting_types import Seconds, format_value, hint, parser_for


# The gateway's public address unless told otherwise; the CLI calls it there.
GATEWAY_ADDRESS = "127.0.0.1:8776"
AnySettings = typing.TypeVar("AnySettings")


def _setting(default: Any, help: str, env: str | None = None, secret: bool = False) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "env": env, "secret": secret})


def default_host() -> str:
    """Host names become NATS subject tokens, so keep only safe characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "localhost"


@dataclasses.dataclass
class Settings:
    data_dir: str = _setting("~/.ember", "directory for the database, volumes and keys")
    nats_url: str = _setting("nats://127.0.0.1:4222", "NATS server URL(s), comma separated")
    nats_replicas: int = _setting(1, "copies of each JetStream stream and KV bucket (3 on a 3-node NATS cluster)")
    database_url: str = _setting("", "peewee database URL; default sqlite in the data dir")
    auth_secret: str = _setting("", "token signing secret; default: <data_dir>/auth.key", secret=True)
    auth_secrets_accepted: str = _setting(
        "", "other signing secrets, comma separated, whose tokens are still (or already) accepted: for rotating "
        "auth_secret without refusing anyone (docs/security.md)", secret=True)
    listen: str = _setting("127.0.0.1:0", "address the gRPC server binds (port 0 = any)")
    advertise: str = _setting(
        "", "address other hosts dial for this service's gRPC, host or host:port (no port: the bound one); "
        "default: the bound address, which must then be a specific one")
    metrics_listen: str = _setting("127.0.0.1:0", "address of the Prometheus metrics endpoint (port 0 = any; the registry and log name it)")
    metrics_advertise: str = _setting("", "address other hosts scrape the metrics endpoint at (as advertise)")
    log_format: str = _setting("text", "log lines as text or json (one object per line, for log shippers)")
    tls_ca: str = _setting("", "PEM certificate of the internal CA (`ember pki init`): with tls_cert and tls_key, "
                           "every internal gRPC hop and NATS connection is mutual TLS; empty = plaintext inside")
    tls_cert: str = _setting("", "PEM certificate of this host, issued by tls_ca (`ember pki issue`); "
                             "its names must cover every address this host advertises")
    tls_key: str = _setting("", "PEM private key of tls_cert")
    public_tls_cert: str = _setting("", "gateway only: PEM certificate chain its public port serves TLS with; "
                                    "empty = plaintext")
    public_tls_key: str = _setting("", "gateway only: PEM private key of public_tls_cert")
    nats_user: str = _setting("", "NATS user this process connects as (see docs/security.md); empty = none")
    nats_password_file: str = _setting("", "file holding nats_user's password (never the password itself)")
    host: str = _setting(default_host(), "this host's name: every service registers under it; storage hosts also "
                         "name their pools and task queues after it")
    availability_zone: str = _setting("default", "zone of this storage host (volume service)")
    backends: str = _setting("", "JSON list of backends (see volume/backends.py); default: one file backend")
    pools: str = _setting("default", "comma-separated pool names of the default backend")
    pool_capacity_gb: float = _setting(0.0, "capacity of each pool in GiB; 0 = the filesystem's")
    reserved_percentage: int = _setting(0, "share of each pool kept free (Cinder semantics)")
    max_over_subscription_ratio: float = _setting(20.0, "thin provisioning ratio")
    nbd_listen: str = _setting("127.0.0.1", "address the NBD exports of this storage host bind")
    nbd_advertise: str = _setting("", "address compute and backup hosts dial for this host's NBD exports; "
                                  "default: nbd_listen, which must then be a specific address")
    nbdkit: str = _setting("nbdkit", "the nbdkit binary that serves NBD exports")
    nbd_tls: bool = _setting(True, "each NBD export takes only TLS-PSK connections with its attachment's own "
                             "secret; false = any host that reaches the port (benchmarks only)")
    attachment_reserve_timeout: Seconds = _setting(
        900.0, "seconds an attachment may stay reserved or attaching without CompleteAttachment before its "
        "storage host releases it (judged by the database's clock)")
    export_retry_max: Seconds = _setting(60.0, "longest wait, in seconds, between tries of an export that cannot be served")
    backend_failure_cooloff: Seconds = _setting(60.0, "seconds a backend that failed a create is skipped")
    report_interval: Seconds = _setting(5.0, "seconds between capacity reports")
    service_down_after: Seconds = _setting(60.0, "a pool silent this long is never chosen")
    registry_ttl: Seconds = _setting(15.0, "seconds a registry entry lives without heartbeat")
    task_ack_wait: Seconds = _setting(30.0, "seconds before an unacked task is redelivered")
    task_max_deliver: int = _setting(5, "deliveries of one task before it fails")
    task_deadline: Seconds = _setting(600.0, "seconds a pending task may take before it fails")
    outbox_retry_after: Seconds = _setting(30.0, "seconds before an unfinished task is re-published")
    scheduler_max_attempts: int = _setting(3, "backends tried for one volume before it fails")
    free_capacity_weight_multiplier: float = _setting(1.0, "negative stacks, positive spreads")
    allocated_capacity_weight_multiplier: float = _setting(0.0, "off at 0; negative prefers the least allocated pool")
    quota_volumes: int = _setting(10, "default volumes per project (-1 = unlimited)")
    quota_gigabytes: int = _setting(1000, "default GiB per project (-1 = unlimited)")
    quota_snapshots: int = _setting(10, "default snapshots per project (-1 = unlimited)")
    quota_backups: int = _setting(10, "default backups per project (-1 = unlimited)")
    quota_backup_gigabytes: int = _setting(1000, "default GiB of backed-up volumes per project (-1 = unlimited)")
    backup_repository: str = _setting("", "backup repository directory (an NFS mount for many hosts); default <data_dir>/backups")
    backup_workers: int = _setting(2, "threads hashing and compressing per backup or restore")
    backup_tasks: int = _setting(4, "backups, restores and verifies one backup service runs at once")
    max_volume_size_gb: int = _setting(16384, "largest volume accepted")
    call_timeout: Seconds = _setting(30.0, "longest deadline forwarded to a service")
    max_message_bytes: int = _setting(4 * 1024 * 1024, "largest gRPC message, in bytes, any service takes or sends")
    failpoints: str = _setting("", "testing only: name=action,... (see ember/failpoints.py)")

    @property
    def data_path(self) -> pathlib.Path:
        return pathlib.Path(self.data_dir).expanduser()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'ember.db'}"


def redact(value: str) -> str:
    """`value` with the password of every URL in it hidden: user:password@ (where
    libpq lets it hold commas) and password= or sslpassword= parameters."""
    value = re.sub(r"(://[^:/@,\s]*):[^@/\s]*@", r"\1:***@", value)
    return re.sub(r"(password=)[^&\s]*", r"\1***", value)


def env_name(field: dataclasses.Field) -> str:
    return field.metadata.get("env") or "EMBER_" + field.name.upper()


def add_arguments(
    parser: argparse.ArgumentParser,
    *,
    settings_class: type = Settings,
    from_file: dict[str, FileValue] | None = None,
    **defaults: Any,
) -> None:
    """One --flag per setting; the default shown is the environment's value,
    which is left as text for argparse to parse like a flag's, so a bad one
    is refused by name while --help still works; else the config file's
    (`from_file`, already read by type), else the service's, else the class's."""
    annotations = typing.get_type_hints(settings_class)
    for field in dataclasses.fields(settings_class):
        default, origin = _default_and_origin(field, from_file or {}, defaults)
        # --help output lands in terminals and CI logs: a secret's value never
        # does, nor the password in a database or NATS URL.
        shown = "hidden" if field.metadata.get("secret") else redact(format_value(default))
        shown = (shown + (f" from {origin}" if origin else "")).replace("%", "%%")
        how = hint(annotations[field.name])
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=_parser(field, annotations[field.name]),
            default=default,
            help=f"{field.metadata['help']} (${env_name(field)}, default {shown}{'; ' + how if how else ''})",
        )


def _default_and_origin(field: dataclasses.Field, from_file: dict[str, FileValue], defaults: dict) -> tuple[Any, str]:
    """A setting's value before flags, and where it came from ("" for a default)."""
    if env_name(field) in os.environ:
        return os.environ[env_name(field)], "$" + env_name(field)
    if field.name in from_file:
        return from_file[field.name].value, from_file[field.name].origin
    return defaults.get(field.name, _default(field)), ""


def _default(field: dataclasses.Field) -> Any:
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def _parser(field: dataclasses.Field, annotation: Any) -> typing.Callable[[str], Any]:
    parse = parser_for(annotation)

    def parse_setting(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            # argparse puts the flag's name first; the variable may be where it came from.
            raise argparse.ArgumentTypeError(f"{error} (setting {field.name}, from this flag or ${env_name(field)})")

    return parse_setting


def from_args(args: argparse.Namespace, settings_class: type[AnySettings] = Settings) -> AnySettings:
    return settings_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(settings_class)})


def parse(
    argv: list[str] | None = None,
    description: str = "",
    prog: str | None = None,
    service: str | None = None,
    **defaults: Any,
) -> Settings:
    """The settings of `service` (a table name of config_file.SERVICES) from
    `argv`, EMBER_* variables, the file --config or $EMBER_CONFIG names, then
    `defaults` (the service's own) and the Settings defaults."""
    path = _config_path(argv, prog)
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--config", metavar="FILE", default=path,
        help="TOML file of settings: top-level keys for every service, a table (e.g. [volume]) "
        f"for one; flags and variables override it ($EMBER_CONFIG, default {path or 'none'})".replace("%", "%%"),
    )
    try:
        from_file = config_file.load(path, service, Settings) if path else {}
    except ValueError as error:
        parser.error(str(error))
    add_arguments(parser, from_file=from_file, **defaults)
    return from_args(parser.parse_args(argv))


def _config_path(argv: list[str] | None, prog: str | None) -> str:
    """--config, or $EMBER_CONFIG, read before the other flags because the
    file supplies their defaults (and --help shows them)."""
    early = argparse.ArgumentParser(prog=prog, add_help=False)
    early.add_argument("--config", default=os.environ.get("EMBER_CONFIG", ""))
    return early.parse_known_args(argv)[0].config


def to_env(settings: Settings) -> dict[str, str]:
    """The settings as EMBER_* variables, for child processes."""
    return {env_name(f): format_value(getattr(settings, f.name)) for f in dataclasses.fields(settings)}
