"""Children that stop when the process that started them dies (Linux), so
that a killed `ember up` or test run leaves no services or nats-server behind.

`spawn` starts a command through `python -m ember.orphans PARENT COMMAND...`,
which arms the parent-death signal and then execs COMMAND in its place. The
signal is not armed by a preexec_fn because Python code run between fork and
exec crashes the child of a process that is busy with gRPC: grpc's fork
handlers restart its poller in the child (grpc/grpc#43055)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def spawn(command: list[str], stderr, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Starts `command` in a session of its own, to be sent SIGTERM when this
    process dies; its stdout is a pipe, its stderr goes to `stderr`."""
    return subprocess.Popen(
        [sys.executable, "-m", "ember.orphans", str(os.getpid()), *command],
        stdout=subprocess.PIPE, stderr=stderr, env=env, start_new_session=True,
    )


def main(argv: list[str]) -> None:
    parent, command = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    # The parent may have died before the signal was armed; then none will come.
    if os.getppid() != parent:
        raise SystemExit(f"not starting {command[0]}: the process that started it (pid {parent}) is gone")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
