"""Regenerates the Python stubs in ember/v1/ from protos/ember/v1/*.proto.

Run `python tools/gen_protos.py` after editing a .proto; `--check` exits 1
when the committed stubs differ from what the pinned grpcio-tools produces.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.resources
import pathlib
import shutil
import sys
import tempfile

from google.longrunning import operations_pb2
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "ember" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _googleapis_include(tmp: pathlib.Path) -> pathlib.Path:
    """googleapis-common-protos ships operations.proto under another file name."""
    site = pathlib.Path(operations_pb2.__file__).parent
    target = tmp / "google" / "longrunning" / "operations.proto"
    target.parent.mkdir(parents=True)
    shutil.copy(site / "operations_proto.proto", target)
    return site.parent.parent


def generate(out: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        site_root = _googleapis_include(tmp)
        well_known = pathlib.Path(importlib.resources.files("grpc_tools")) / "_proto"
        sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "ember" / "v1").glob("*.proto"))
        gen = tmp / "gen"
        gen.mkdir()
        args = [
            "protoc",
            f"-I{PROTOS}",
            f"-I{tmp}",
            f"-I{site_root}",
            f"-I{well_known}",
            f"--python_out={gen}",
            f"--pyi_out={gen}",
            f"--grpc_python_out={gen}",
            *sources,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        out.mkdir(parents=True, exist_ok=True)
        for path in (gen / "ember" / "v1").iterdir():
            if path.name.endswith(GENERATED_SUFFIXES):
                shutil.copy(path, out / path.name)


def generated_files(directory: pathlib.Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def stale_files() -> list[str]:
    """Names of stubs that differ from a fresh generation (or are missing/extra)."""
    with tempfile.TemporaryDirectory() as tmp_name:
        fresh = pathlib.Path(tmp_name)
        generate(fresh)
        expected, actual = generated_files(fresh), generated_files(OUT)
        differing = {n for n in expected & actual if not filecmp.cmp(fresh / n, OUT / n, shallow=False)}
        return sorted(differing | (expected ^ actual))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale stubs")
    if parser.parse_args().check:
        stale = stale_files()
        for name in stale:
            print(f"stale: ember/v1/{name}", file=sys.stderr)
        return 1 if stale else 0
    generate(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
