"""The two commands of the README, on a machine with nothing but Python 3.11+:

    python3 dev.py up      run Ember (all services, embedded nats-server, SQLite)
    python3 dev.py test    run the whole test suite

Each first makes .venv/ and installs what it needs (again only when
pyproject.toml changes); further arguments go to `ember up` or pytest.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".ember-installed"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        raise SystemExit(f"Ember needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing Ember and its test tools into .venv", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(wanted)


def main() -> int:
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command not in ("up", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    if command == "up":
        argv = [str(BIN / "ember"), "up", *rest]
    else:
        argv = [str(BIN / "python"), "-m", "pytest", *rest]
    os.chdir(ROOT)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
