"""One command for the benchmarks: describes the machine, runs the backup
(local and over NBD), NBD data-path and snapshot benchmarks, the sweeps over
workload size and concurrency, the control-plane benchmark, and the control
plane and NBD reads again over the bridge of the multi-host topology
(bench/multihost.py, needs root), and writes docs/benchmarks.md with its
plots and the raw figures (docs/benchmarks/figures.json). The Profiles
section is copied from bench/profiles.md, written by hand, so that it survives.

    python -m bench.report [--quick] [--no-multihost] [--out DIR]

A full run takes several minutes and wants a quiet machine: every
benchmark measures throughput, which anything else running takes from.
`--quick` runs tiny sizes once each, to check the report end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import pathlib
import shutil
import sys
import tempfile
import time

from bench import backup, control_plane, data_path, jsonfile, machine, multihost, plots, render, snapshot, sweep

MIB = 1024 * 1024
HERE = pathlib.Path(__file__).resolve().parent
PROFILES = HERE / "profiles.md"


@dataclasses.dataclass(frozen=True)
class Plan:
    backup_mib: int
    data_path_gib: int
    runs: int
    readers: tuple[int, ...]
    sizes_mib: tuple[int, ...]
    concurrency: tuple[int, ...]
    concurrency_mib: int
    sweep_runs: int
    # Control plane: sequential creates, seconds per client count, client counts, round trips.
    creates: int
    seconds: float
    clients: tuple[int, ...]
    round_trips: int
    # Over the bridge, the same client counts and seconds; fewer of the rest, for time.
    bridge_creates: int
    bridge_round_trips: int
    bridge_runs: int


# The sweep's runs each fill new volumes, hence fewer of them.
FULL = Plan(backup_mib=2048, data_path_gib=1, runs=5, readers=(1, 2, 4), sizes_mib=(256, 1024, 2048),
            concurrency=(1, 2, 4), concurrency_mib=512, sweep_runs=3, creates=200, seconds=5.0, clients=(1, 8, 32),
            round_trips=30, bridge_creates=50, bridge_round_trips=10, bridge_runs=3)
# Volumes come in whole GiB, so the data path keeps its 1 GiB volume; the
# rest shrinks to a few MiB.
QUICK = Plan(backup_mib=64, data_path_gib=1, runs=1, readers=(1, 2), sizes_mib=(32, 64), concurrency=(1, 2),
             concurrency_mib=32, sweep_runs=1, creates=10, seconds=1.0, clients=(1, 8), round_trips=2,
             bridge_creates=10, bridge_round_trips=2, bridge_runs=1)


def step(title: str, work, show):
    print(f"\n== {title}", flush=True)
    # Each step starts with what the last one wrote on the disk.
    os.sync()
    started = time.perf_counter()
    figures = work()
    show(figures)
    print(f"({time.perf_counter() - started:.0f} s)", flush=True)
    return figures


def over_the_bridge(plan: Plan, loopback: dict) -> dict:
    """The multi-host figures: the topology's services on loopback, then one
    topology for the control plane and the data path."""
    figures = {"same_services": multihost.same_services(plan.bridge_creates, plan.seconds, plan.clients)}
    with multihost.topology() as hosts:
        figures["control_plane"] = multihost.control_plane_figures(hosts, plan.bridge_creates, plan.seconds,
                                                                   plan.clients, plan.bridge_round_trips)
        figures["data_path"] = multihost.data_path_figures(hosts, plan.data_path_gib, plan.bridge_runs)
    figures["create_rates"] = multihost.create_rates(loopback, figures["same_services"], figures["control_plane"])
    return figures


def show_bridge(figures: dict) -> None:
    print(control_plane.report(figures["control_plane"]))
    print("\n".join(["", *multihost.rate_lines(figures["create_rates"]), "",
                     *multihost.data_path_lines(figures["data_path"])]))


def run(plan: Plan, bridge: bool = True) -> dict:
    missing = [tool for tool in ("nbdkit", "nbdcopy") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"the NBD benchmark needs {' and '.join(missing)} (apt-get install nbdkit libnbd-bin)")
    figures = {"machine": machine.describe(pathlib.Path(tempfile.gettempdir()))}
    # First, while the page cache holds nothing dirty: the control plane
    # fsyncs every commit, and the gigabytes the data-plane benchmarks
    # write would otherwise still be going to the disk under it.
    figures["control_plane"] = step("control plane",
                                    lambda: control_plane.measure_here(plan.creates, plan.seconds, plan.clients,
                                                                       plan.round_trips),
                                    lambda f: print(control_plane.report(f)))
    control_plane.save(figures["control_plane"])
    # Right after the loopback run, so that the machine is in the same state for both.
    if bridge:
        figures["multihost"] = step("over the bridge (multi-host)",
                                    lambda: over_the_bridge(plan, figures["control_plane"]), show_bridge)
    backup_size = plan.backup_mib * MIB
    figures["backup"] = step(f"backup ({plan.backup_mib} MiB)", lambda: backup.measure(backup_size),
                             lambda f: backup.report(backup_size, f))
    figures["backup_over_nbd"] = step(f"backup over NBD ({plan.backup_mib} MiB)",
                                      lambda: backup.measure(backup_size, compare=False, over_nbd=True),
                                      lambda f: backup.report(backup_size, f))
    figures["data_path"] = step(f"NBD data path ({plan.data_path_gib} GiB)",
                                lambda: data_path.measure(plan.data_path_gib, plan.runs, plan.readers),
                                data_path.report)
    figures["snapshot"] = step("snapshot", lambda: snapshot.measure(runs=plan.runs), snapshot.report)
    figures["sweep"] = step("sweeps over size and concurrency",
                            lambda: sweep.measure(plan.sizes_mib, plan.concurrency, plan.concurrency_mib,
                                                  plan.sweep_runs),
                            sweep.report)
    return figures


def write(figures: dict, out: pathlib.Path) -> pathlib.Path:
    assets = out / "benchmarks"
    assets.mkdir(parents=True, exist_ok=True)
    plots.backup_tools(figures["backup"], assets / "backup_tools.png")
    plots.throughput_vs_size(figures["sweep"], assets / "throughput_vs_size.png")
    plots.throughput_vs_concurrency(figures["sweep"], figures["data_path"], assets / "throughput_vs_concurrency.png")
    jsonfile.write(figures, assets / "figures.json")
    document = out / "benchmarks.md"
    profiles = PROFILES.read_text() if PROFILES.exists() else "No profiles recorded (bench/profiles.md is missing)."
    document.write_text(render.document(figures, profiles))
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each: checks the report, no more")
    parser.add_argument("--no-multihost", action="store_true",
                        help="leave out the figures over the bridge of the multi-host topology (which need root)")
    parser.add_argument("--out", type=pathlib.Path, default=HERE.parent / "docs",
                        help="where benchmarks.md and benchmarks/ go (default: the repository's docs/)")
    args = parser.parse_args(argv)
    started, ticks = time.perf_counter(), machine.cpu_ticks()
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    figures = run(QUICK if args.quick else FULL, bridge=not args.no_multihost)
    total, stolen = (now - then for now, then in zip(machine.cpu_ticks(), ticks))
    figures["run"] = {"generated": generated, "quick": args.quick, "wall_s": time.perf_counter() - started,
                      "steal": stolen / total if total else 0.0, "load_average_end": os.getloadavg()}
    document = write(figures, args.out)
    print(f"\n{document} written in {figures['run']['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
