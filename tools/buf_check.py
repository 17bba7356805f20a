"""`buf lint` on protos/, and `buf breaking` against protos/ember-v1.binpb, the
committed image of the last landed protos; installs the pinned buf CLI from
npm (tools/buf) when it is missing. Exit status 0 when both pass.

    python3 tools/buf_check.py [--protos DIR]   check this tree's protos/ (or DIR)
    python3 tools/buf_check.py --refresh        rewrite the image from protos/

--refresh writes only when protos/ breaks nothing against the image it
replaces, so the image moves on by compatible steps alone.
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
LANDED = ROOT / "protos" / "ember-v1.binpb"
# What protos/ imports from googleapis, with what that imports in turn.
NEEDED = ("google/longrunning", "google/api", "google/rpc")


def install() -> None:
    if not BUF.exists():
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed for the buf CLI (apt-get install npm)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TOOL, check=True)


def stage(protos: pathlib.Path, tree: pathlib.Path) -> pathlib.Path:
    """A tree with `protos` as its protos/ beside this tree's buf.yaml and
    googleapis protos, so it builds as this one does. Copies, not links: buf
    refuses files outside the directory it works in."""
    shutil.copytree(protos, tree / "protos", ignore=shutil.ignore_patterns("*.binpb"))
    shutil.copy(ROOT / "buf.yaml", tree / "buf.yaml")
    for part in NEEDED:
        shutil.copytree(ROOT / GOOGLE / part, tree / GOOGLE / part)
    return tree


def build(tree: pathlib.Path, image: pathlib.Path, *flags: str) -> None:
    subprocess.run([str(BUF), "build", "--path", OURS, *flags, "-o", str(image)], cwd=tree, check=True)


def lint(tree: pathlib.Path) -> int:
    return subprocess.run([str(BUF), "lint", "--path", OURS], cwd=tree).returncode


def breaking(tree: pathlib.Path) -> int:
    """Non-zero when the tree's protos break anything the landed image has."""
    if not LANDED.exists():
        print(f"{LANDED.relative_to(ROOT)} is missing: nothing to check against", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="ember-buf-") as tmp:
        image = pathlib.Path(tmp) / "new.binpb"
        build(tree, image)
        return subprocess.run([str(BUF), "breaking", str(image), "--against", str(LANDED)], cwd=tree).returncode


def refresh() -> int:
    if LANDED.exists() and breaking(ROOT):
        print(f"protos/ breaks the landed protos: {LANDED.relative_to(ROOT)} left as it was", file=sys.stderr)
        return 1
    # Without source info the image is a fifth of the size; the messages of
    # `buf breaking` point into the new protos, which keep theirs.
    build(ROOT, LANDED, "--exclude-source-info")
    print(f"wrote {LANDED.relative_to(ROOT)}")
    return 0


def check(protos: pathlib.Path | None) -> int:
    with tempfile.TemporaryDirectory(prefix="ember-buf-tree-") as tmp:
        tree = ROOT if protos is None else stage(protos.resolve(), pathlib.Path(tmp))
        failed = lint(tree)
        failed |= breaking(tree)
    print("buf lint and buf breaking passed" if not failed else "buf found problems (above)")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="buf lint and buf breaking for protos/")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--protos", type=pathlib.Path, help="a protos/ directory to check instead of this tree's")
    action.add_argument("--refresh", action="store_true", help=f"rewrite {LANDED.relative_to(ROOT)} from protos/")
    args = parser.parse_args()
    install()
    return refresh() if args.refresh else check(args.protos)


if __name__ == "__main__":
    sys.exit(main())
