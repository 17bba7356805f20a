"""`buf lint` on protos/, and `buf breaking` against the protos of a git
ref (main by default): installs the pinned buf CLI from npm (tools/buf)
when it is missing. Exit status 0 when both pass.

    python3 tools/buf_check.py [--against REF]
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "buf"
BUF = TOOL / "node_modules" / ".bin" / "buf"
GOOGLE = pathlib.Path("tools") / "buf" / "node_modules" / "google-proto-files"
OURS = "protos/ember"
# What protos/ imports from googleapis, with what that imports in turn.
NEEDED = ("google/longrunning", "google/api", "google/rpc")


def install() -> None:
    if not BUF.exists():
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed for the buf CLI (apt-get install npm)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TOOL, check=True)


def lint() -> int:
    return subprocess.run([str(BUF), "lint", "--path", OURS], cwd=ROOT).returncode


def breaking(ref: str) -> int:
    """The ref's protos are checked out beside this tree's buf.yaml and the
    same googleapis protos, so both sides build the same way."""
    with tempfile.TemporaryDirectory(prefix="ember-buf-") as tmp:
        old = pathlib.Path(tmp)
        archive = subprocess.run(["git", "archive", ref, "protos"], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            raise SystemExit(f"cannot read protos/ at {ref}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
        shutil.copy(ROOT / "buf.yaml", old / "buf.yaml")
        # A copy, not a link: buf refuses files outside the directory it checks.
        for part in NEEDED:
            shutil.copytree(ROOT / GOOGLE / part, old / GOOGLE / part)
        images = []
        for tree, name in ((ROOT, "new.binpb"), (old, "old.binpb")):
            images.append(str(pathlib.Path(tmp) / name))
            subprocess.run([str(BUF), "build", "--path", OURS, "-o", images[-1]], cwd=tree, check=True)
        return subprocess.run([str(BUF), "breaking", images[0], "--against", images[1]], cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git ref whose protos must stay compatible")
    args = parser.parse_args()
    install()
    failed = lint()
    failed |= breaking(args.against)
    print("buf lint and buf breaking passed" if not failed else "buf found problems (above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
