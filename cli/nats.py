"""`ember nats access`: the NATS users of a deployment (a password file each)
and the file its nats-server includes for TLS and per-subject permissions."""

from __future__ import annotations

import json
import os
import pathlib
import sys

from ember import nats_access, pki

CONF = "nats-access.conf"
PASSWORD = ".password"


def _user(spec: str) -> nats_access.User:
    """ROLE@HOST, or ROLE@HOST=NAME: a second user of the same role and host,
    whose password replaces the first's without cutting anyone off."""
    service, _, name = spec.partition("=")
    role, at, host = service.partition("@")
    if not at:
        raise SystemExit(f"error: --service {spec!r} is not ROLE@HOST[=NAME] (e.g. volume@store-a)")
    if role not in nats_access.ROLES:
        raise SystemExit(f"error: --service {spec!r}: the role is one of {', '.join(nats_access.ROLES)}")
    try:
        return nats_access.User(role, host, name)
    except ValueError as error:
        raise SystemExit(f"error: --service {spec!r}: {error}")


def _server_tls(args) -> pki.TlsFiles | None:
    given = {"--server-tls-ca": args.server_tls_ca, "--server-tls-cert": args.server_tls_cert,
             "--server-tls-key": args.server_tls_key}
    if not any(given.values()):
        print("warning: no --server-tls-*: nats-server will take clients without a certificate of the internal CA, "
              "which only a single machine should do", file=sys.stderr)
        return None
    for flag, path in given.items():
        # nats-server would read a relative path from wherever it was started.
        if not path or not os.path.isabs(path):
            raise SystemExit(f"error: {flag} must be given, as an absolute path on the nats-server's machine "
                             "(the three --server-tls-* go together)")
    return pki.TlsFiles(*(pathlib.Path(path) for path in given.values()))


def _check_none_forgotten(directory: pathlib.Path, users: list[nats_access.User]) -> None:
    """A user with a password in `directory` that this run does not name
    would vanish from the file, and nats-server would cut its service off."""
    kept = {nats_access.ADMIN, nats_access.ROUTE_USER, *(user.name for user in users)}
    forgotten = sorted(path.name for path in directory.glob(f"*{PASSWORD}") if path.stem not in kept)
    if forgotten:
        raise SystemExit(f"error: {directory} holds {', '.join(forgotten)}, whose users no --service names: name "
                         "every service each time (passwords are kept), or delete a user's file to take it out")


def _access(args) -> None:
    directory = pathlib.Path(args.dir).expanduser()
    users = list({user.name: user for user in map(_user, args.service)}.values())
    tls = _server_tls(args)
    # The directory holds every password: nobody else may even list it.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_none_forgotten(directory, users)
    access = nats_access.Access(directory)
    for user in users:
        access.add(user)
    conf = access.write(directory / CONF, tls)
    hosts = pathlib.Path(args.password_dir) if args.password_dir else directory
    for user in users:
        password = access.passwords.file(user.name)
        copy = f": copy {password.name} to {hosts}/ (mode 0600)" if args.password_dir else ""
        print(f"# {user.host} [{user.role}]{copy}")
        print(f"nats_user = {json.dumps(user.name)}")
        print(f"nats_password_file = {json.dumps(str(hosts / password.name))}\n")
    print(f"# nats-server: include {conf} (mode 0600, it holds every password); "
          f"{access.passwords.file(nats_access.ADMIN)} is the admin's, for operators' tools only")


def add_parser(commands) -> None:
    nats_parser = commands.add_parser("nats", help="NATS users and permissions for a multi-host deployment")
    sub = nats_parser.add_subparsers(dest="nats_command", required=True)
    access = sub.add_parser(
        "access", help="write a password per service and the users file nats-server includes; print config lines",
        description="Writes DIR/<role>-<host>.password for each --service (an existing one is kept, so running "
        f"again adds services without changing passwords) and DIR/{CONF}, which nats-server's configuration "
        "includes: TLS requiring client certificates of the internal CA, and each user allowed only the "
        "subjects its role uses. Prints the nats_user and nats_password_file lines of each service's table.")
    access.add_argument("--dir", required=True, help="where the password files and the users file are written")
    access.add_argument("--service", action="append", required=True, metavar="ROLE@HOST[=NAME]",
                        help=f"a service and its host ({'/'.join(nats_access.ROLES)}@host); repeat for each; "
                        "=NAME adds a second user for it, to rotate its password (docs/security.md)")
    access.add_argument("--server-tls-ca", default="", metavar="PATH", help="the internal CA's ca.pem, as the "
                        "nats-server's machine has it")
    access.add_argument("--server-tls-cert", default="", metavar="PATH",
                        help="that machine's certificate (`ember pki issue`), which nats-server serves")
    access.add_argument("--server-tls-key", default="", metavar="PATH", help="its private key")
    access.add_argument("--password-dir", default="", metavar="PATH",
                        help="where the hosts keep their password files, as the printed lines say (default: --dir)")
    access.set_defaults(run=_access)
