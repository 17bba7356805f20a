"""`ember token create`: a signed bearer token for a project, printed alone so
that `export EMBER_TOKEN=$(ember token create --project demo)` works."""

from __future__ import annotations

import getpass

from ember import auth, config


def run(args) -> None:
    settings = config.from_args(args)
    secret = auth.load_secret(settings.auth_secret, settings.data_path, create=args.create_secret)
    roles = (auth.ADMIN_ROLE,) if args.admin else ()
    identity = auth.Identity(project_id=args.project, user_id=args.user, roles=roles)
    print(auth.create_token(identity, secret, args.ttl * 3600))


def add_parser(commands, settings_parent) -> None:
    token = commands.add_parser("token", help="make bearer tokens")
    sub = token.add_subparsers(dest="token_command", required=True)
    create = sub.add_parser("create", parents=[settings_parent], help="print a new token")
    create.add_argument("--project", required=True)
    create.add_argument("--user", default=getpass.getuser())
    create.add_argument("--admin", action="store_true", help="grant the admin role")
    create.add_argument("--ttl", type=float, default=24.0, help="hours until it expires")
    create.add_argument("--create-secret", action="store_true", help="make <data_dir>/auth.key if missing")
    create.set_defaults(run=run)
