"""A PostgreSQL database URL as libpq reads it (password, passfile, sslmode and
every other parameter), and why it could not be used, told without its password."""

from __future__ import annotations

import os
import re
import stat
from urllib.parse import unquote, urlsplit

from ember.config import redact

SCHEMES = ("postgresql", "postgres")


def params(url: str) -> dict[str, str]:
    """libpq's connection parameters of `url`, read by libpq itself: escapes
    decoded, several hosts, every query parameter kept as written (sslmode,
    sslrootcert, passfile...). playhouse.db_url would turn "007" into 7,
    "true" into True and drop a "none"."""
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise SystemExit(f"database_url {redact(url)}: Ember takes sqlite:/// and postgresql:// URLs, "
                         f"not {scheme or 'this'}")
    try:
        import psycopg2.extensions
    except ImportError:
        raise SystemExit("database_url names PostgreSQL, which needs psycopg2: pip install 'ember[postgres]'")
    try:
        found = psycopg2.extensions.parse_dsn(url)
    except psycopg2.ProgrammingError as exc:
        # libpq quotes the piece it could not read, which may be the password.
        raise SystemExit(scrub(f"database_url {redact(url)} is not a URL libpq can read: {_words(exc)}", url))
    if not found.get("dbname"):
        raise SystemExit(f"database_url {redact(url)} names no database (postgresql://[user@]host[:port]/DATABASE)")
    return found


def scrub(text: str, url: str) -> str:
    """`text` without any password `url` holds, whether written in it or decoded."""
    written = re.findall(r"://[^:/@]*:([^@/]*)@", url) + re.findall(r"password=([^&\s]*)", url)
    # The longest first, so that no longer one is left half hidden.
    for secret in sorted({form for w in written if w for form in (w, unquote(w))}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return redact(text)


def passfile(found: dict[str, str]) -> str:
    """The password file libpq will read for these parameters, if one is named."""
    if found.get("password"):
        return ""
    return found.get("passfile") or os.environ.get("PGPASSFILE", "")


def check_passfile(found: dict[str, str]) -> None:
    """SystemExit when libpq would skip the named password file: it does so
    with no more than a warning on stderr, and the server then says only that
    no password was supplied."""
    path = passfile(found)
    if not path:
        return
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise SystemExit(f"passfile {path} (of database_url): {exc.strerror}")
    if not stat.S_ISREG(mode):
        raise SystemExit(f"passfile {path} (of database_url) is not a file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SystemExit(f"passfile {path} (of database_url) may be read by group or others (mode "
                         f"{stat.S_IMODE(mode):04o}), so libpq ignores it: chmod 600 {path}")
    if not os.access(path, os.R_OK):
        raise SystemExit(f"passfile {path} (of database_url) cannot be read by this process's user")


def unusable(url: str, exc: BaseException) -> str:
    """Why the database at `url` could not be opened: what the driver said,
    with a hint for the usual mistakes, and never the password."""
    said = _words(exc)
    return scrub(f"cannot open the database {redact(url)}: {_hint(url, said)}{said}", url)


def _hint(url: str, said: str) -> str:
    if not url.startswith(SCHEMES):
        return ""
    found = params(url)
    file = passfile(found)
    if "password authentication failed" in said:
        source = "the one in database_url" if found.get("password") else (
            f"the one passfile {file} gives" if file else "from $PGPASSWORD or ~/.pgpass")
        return f"wrong password ({source}); "
    if "no password supplied" in said:
        line = ":".join(found.get(k, "*") for k in ("host", "port", "dbname", "user"))
        where = f"passfile {file} has no line for {line}" if file else "database_url has none, nor a passfile="
        return f"the server asks for a password and none was given ({where}); "
    if "no pg_hba.conf entry" in said and "no encryption" in said:
        return "the server takes only SSL connections from here: add sslmode=require or verify-full to database_url; "
    return ""


def _words(exc: BaseException) -> str:
    """libpq's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__
