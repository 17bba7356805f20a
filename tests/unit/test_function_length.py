"""No function or method outside the tests and the generated *_pb2 code is
longer than 60 lines: a longer one does more than one job."""

import ast
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIMIT = 60


def project_sources() -> list[pathlib.Path]:
    """The .py files git knows of or would add, minus the tests and generated code."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
                            capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    paths = [ROOT / name for name in listed if not name.startswith("tests/") and "_pb2" not in pathlib.Path(name).name]
    return [path for path in paths if path.exists()]


def long_functions(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > LIMIT
    ]


def test_sources_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in project_sources()}
    assert "ember/config.py" in names and "backup/pipeline.py" in names
    assert not any(name.startswith("tests/") or "_pb2" in name for name in names)


def test_no_function_is_longer_than_60_lines():
    found = [line for path in project_sources() for line in long_functions(path)]
    assert not found, "functions over 60 lines:\n" + "\n".join(found)
