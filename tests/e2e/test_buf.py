"""Proto hygiene with the buf CLI (pinned in tools/buf): `buf lint` passes
with the documented AIP exceptions in buf.yaml, and `buf breaking` holds the
protos to the committed image of the last landed ones, on any branch."""

from __future__ import annotations

import pathlib
import re
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


def buf_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "tools/buf_check.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_buf_lint_and_breaking_pass(npm):
    run = buf_check()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "buf lint and buf breaking passed" in run.stdout


def test_a_renumbered_field_breaks_against_the_landed_protos(npm, tmp_path):
    protos = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", protos)
    volume = protos / "ember" / "v1" / "volume.proto"
    text, renumbered = re.subn(r"(message Volume \{[^}]*?\n  string name = )2;", r"\g<1>99;", volume.read_text())
    assert renumbered == 1, "Volume.name = 2 is gone from volume.proto: pick another field to renumber"
    volume.write_text(text)

    run = buf_check("--protos", str(protos))

    assert run.returncode != 0, run.stdout + run.stderr
    assert 'Previously present field "2" with name "name" on message "Volume" was deleted' in run.stdout + run.stderr
    assert "buf found problems" in run.stdout
