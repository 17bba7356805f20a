"""`ember pki init` and `ember pki issue`: the internal CA that every hop
between Ember hosts trusts, and the host certificates it signs."""

from __future__ import annotations

import pathlib

from ember import pki


def _init(args) -> None:
    try:
        cert = pki.init_ca(pathlib.Path(args.dir).expanduser())
    except pki.PkiError as error:
        raise SystemExit(f"error: {error}")
    print(f"CA certificate: {cert} (give it to every host as tls_ca)")
    print(f"CA key: {cert.with_name(pki.CA_KEY)} (keep it off the hosts; it signs their certificates)")


def _issue(args) -> None:
    ca_dir = pathlib.Path(args.dir).expanduser()
    try:
        files = pki.issue(ca_dir, pathlib.Path(args.out or ca_dir).expanduser(), args.host, args.ip, args.dns,
                          days=args.days)
    except pki.PkiError as error:
        raise SystemExit(f"error: {error}")
    print(f"tls_ca = {str(files.ca)!r}\ntls_cert = {str(files.cert)!r}\ntls_key = {str(files.key)!r}")


def add_parser(commands) -> None:
    pki_parser = commands.add_parser("pki", help="the internal certificate authority (mutual TLS between hosts)")
    sub = pki_parser.add_subparsers(dest="pki_command", required=True)
    init = sub.add_parser("init", help="make a CA (ca.pem, ca.key) in --dir")
    init.add_argument("--dir", default="~/.ember/pki", help="where the CA is kept (default %(default)s)")
    init.set_defaults(run=_init)
    issue = sub.add_parser("issue", help="issue a host certificate and key, printed as config-file lines")
    issue.add_argument("--dir", default="~/.ember/pki", help="the CA's directory (default %(default)s)")
    issue.add_argument("--host", required=True, help="the host's name (its file names and a DNS SAN)")
    issue.add_argument("--ip", action="append", default=[], required=True,
                       help="an address the host's services advertise (repeat for each)")
    issue.add_argument("--dns", action="append", default=[], help="another DNS name of the host (repeatable)")
    issue.add_argument("--out", default="", help="directory for <host>.pem and <host>.key (default: --dir)")
    issue.add_argument("--days", type=int, default=pki.HOST_DAYS, help="validity (default %(default)s)")
    issue.set_defaults(run=_issue)
