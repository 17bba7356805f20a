"""Packages depend only downward: the services and compute/ import ember/ and
themselves, ember/ imports none of them, and cli/ on top imports ember/ and compute/."""

import ast
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICES = ("api_gateway", "scheduler", "volume", "backup", "compute")
# What each package may import of the project's packages (besides itself).
ALLOWED = {**{name: {"ember"} for name in SERVICES}, "ember": set(), "cli": {"ember", "compute"}}
PROJECT = set(ALLOWED)


def layered_sources() -> list[pathlib.Path]:
    """The .py files git knows of or would add, in the layered packages
    (tests/, bench/, tools/ and scripts at the top are exempt)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
                            capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    return [ROOT / name for name in listed if name.split("/")[0] in PROJECT and (ROOT / name).exists()]


def _imported(node: ast.AST, package: list[str]) -> list[str]:
    """The modules an import statement, or a call of importlib.import_module
    or __import__ with a literal name, brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if not node.level:
            return [node.module]
        base = package[:len(package) - node.level + 1]
        return [".".join(base + ([node.module] if node.module else []))]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        called = ast.unparse(node.func)
        if called in ("importlib.import_module", "import_module", "__import__") and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


def violations(source: str, relative: str) -> list[str]:
    """'file:line: import' for each import of `source` (the file at
    `relative`) that reaches sideways or upward."""
    parts = relative.removesuffix(".py").split("/")
    top, package = parts[0], parts[:-1]
    found = []

    for node in ast.walk(ast.parse(source, filename=relative)):
        for module in _imported(node, package):
            target = module.split(".")[0]
            if target in PROJECT and target != top and target not in ALLOWED[top]:
                may = ", ".join(sorted(ALLOWED[top] | {top}))
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node)}  ({top} may import {may} only)")
    return found


def test_the_layered_packages_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in layered_sources()}
    assert {"ember/config.py", "volume/api.py", "backup/records.py", "cli/main.py", "compute/qemu.py"} <= names


def test_a_sideways_or_upward_import_is_named_with_its_file_and_line():
    source = "import os\nfrom ember import db\n\ndef f():\n    from volume import manager\n    import cli.main\n"
    assert violations(source, "backup/records.py") == [
        "backup/records.py:5: from volume import manager  (backup may import backup, ember only)",
        "backup/records.py:6: import cli.main  (backup may import backup, ember only)",
    ]
    assert violations("from . import tasks\nfrom .repository import gc\n", "backup/api.py") == []
    assert violations("import importlib\nimportlib.import_module('scheduler.pools')\n", "ember/x.py") == [
        "ember/x.py:2: importlib.import_module('scheduler.pools')  (ember may import ember only)",
    ]
    assert violations("from compute import qemu\nfrom ember import config\n", "cli/instance.py") == []


def test_packages_depend_only_downward():
    found = [line for path in layered_sources()
             for line in violations(path.read_text(), path.relative_to(ROOT).as_posix())]
    assert not found, "sideways or upward imports:\n" + "\n".join(found)
