"""What the benchmarks ran on: figures from one machine mean little without
its CPU, memory, kernel, the filesystem under the data and the versions of
the tools Ember is measured against."""

from __future__ import annotations

import os
import pathlib
import platform
import shutil
import subprocess

TOOLS = {"nbdkit": ["nbdkit", "--version"], "nbdcopy": ["nbdcopy", "--version"],
         "restic": ["restic", "version"], "borg": ["borg", "--version"]}


def _cpuinfo() -> tuple[str, int, bool]:
    """(model, logical CPUs, whether a hypervisor is underneath)."""
    model, count, virtual = "unknown", 0, False
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            count += 1
        elif key == "model name" and model == "unknown":
            model = value
        elif key == "flags":
            virtual = virtual or "hypervisor" in value.split()
    return model, count or os.cpu_count() or 0, virtual


def _memory_gib() -> float:
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def filesystem(path: pathlib.Path) -> str:
    """The type of the filesystem holding `path`: the deepest mount above it."""
    path = path.resolve()
    best, kind = "", "unknown"
    for line in pathlib.Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount = fields[4].encode().decode("unicode_escape")
        kind_at = fields[fields.index("-") + 1]
        inside = path == pathlib.Path(mount) or pathlib.Path(mount) in path.parents
        if inside and len(mount) >= len(best):
            best, kind = mount, kind_at
    return kind


def tool_version(name: str) -> str:
    if shutil.which(name) is None:
        return "not installed"
    done = subprocess.run(TOOLS[name], capture_output=True, text=True, timeout=30)
    words = (done.stdout or done.stderr).split()
    # "restic 0.14.0 compiled with go1.19.8 ..." as "nbdkit 1.32.5": the name, then the version.
    return words[1] if len(words) > 1 else "unknown"


def cpu_ticks() -> tuple[int, int]:
    """(all, stolen) CPU ticks since boot, to tell how much of a run a
    hypervisor gave to other guests."""
    fields = [int(n) for n in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def describe(data_dir: pathlib.Path) -> dict:
    model, count, virtual = _cpuinfo()
    return {
        "cpu": model, "cpus": count, "virtual": virtual, "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(), "filesystem": filesystem(data_dir),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average": os.getloadavg(), "tools": {name: tool_version(name) for name in TOOLS},
    }
