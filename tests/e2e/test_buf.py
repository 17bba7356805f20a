"""Proto hygiene with the buf CLI (pinned in tools/buf): `buf lint` passes
with the documented AIP exceptions in buf.yaml, and the protos break
nothing against main."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

from tests import prerequisites

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def npm():
    if shutil.which("npm") is None:
        prerequisites.missing("npm is not installed here (apt-get install npm)", "EMBER_REQUIRE_NODE")


def against() -> str:
    """main when this clone has it, else the commit checked out."""
    found = subprocess.run(["git", "rev-parse", "--verify", "-q", "main"], cwd=ROOT, capture_output=True)
    return "main" if found.returncode == 0 else "HEAD"


def test_buf_lint_and_breaking_pass(npm):
    run = subprocess.run([sys.executable, "tools/buf_check.py", "--against", against()], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "buf lint and buf breaking passed" in run.stdout
