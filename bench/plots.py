"""The report's plots, drawn with matplotlib's Agg canvas (no display, no
pyplot state): throughput against workload size, against concurrency, and
Ember against the other backup tools."""

from __future__ import annotations

import pathlib

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.backup import TOOLS


def _figure(panels: int) -> tuple[Figure, list]:
    figure = Figure(figsize=(5.5 * panels, 4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return figure, list(axes)


def _save(figure: Figure, path: pathlib.Path) -> pathlib.Path:
    for ax in figure.axes:
        # Throughput from zero: a cropped axis makes small differences look large.
        ax.set_ylim(bottom=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def _counts(ax, xs: list[int], label: str) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_xlabel(label)


def throughput_vs_size(sweep: dict, path: pathlib.Path) -> pathlib.Path:
    figure, (ax,) = _figure(1)
    sizes = [p["size_mib"] for p in sweep["sizes"]]
    ax.plot(sizes, [p["backup_mib_s"] for p in sweep["sizes"]], "o-", label="full backup")
    ax.plot(sizes, [p["restore_mib_s"] for p in sweep["sizes"]], "s-", label="restore (fsynced)")
    _counts(ax, sizes, "workload (MiB; a quarter random, a quarter text, half holes)")
    ax.set_ylabel("MiB/s")
    ax.set_title("Ember backup and restore against workload size")
    ax.legend()
    return _save(figure, path)


def throughput_vs_concurrency(sweep: dict, data_path: dict, path: pathlib.Path) -> pathlib.Path:
    figure, (backups, reads) = _figure(2)
    counts = [p["count"] for p in sweep["concurrency"]]
    backups.plot(counts, [p["backup_mib_s"] for p in sweep["concurrency"]], "o-", label="full backups")
    backups.plot(counts, [p["restore_mib_s"] for p in sweep["concurrency"]], "s-", label="restores")
    _counts(backups, counts, "operations at once (distinct volumes)")
    backups.set_ylabel("aggregate MiB/s")
    backups.set_title(f"Backups of {sweep['concurrency_mib']} MiB workloads at once")
    backups.legend()
    levels = data_path["readers"]
    connections = [p["connections"] for p in levels]
    direct = [p["direct"] for p in levels]
    reads.plot(connections, direct, "o-", label="direct on the file")
    reads.plot(connections, [p["nbd"] for p in levels], "s-", label="NBD export")
    reads.plot(connections, [data_path["target_ratio"] * d for d in direct], ":", color="grey",
               label=f"target: {data_path['target_ratio']:.0%} of direct")
    _counts(reads, connections, "nbdcopy connections (one request in flight each)")
    reads.set_ylabel("aggregate MiB/s")
    reads.set_title(f"Cold sequential reads of a {data_path['size_mib'] // 1024} GiB volume")
    reads.legend()
    return _save(figure, path)


def backup_tools(backup: dict, path: pathlib.Path) -> pathlib.Path:
    figure, axes = _figure(3)
    tools = [t for t in TOOLS if backup.get(t)]
    mib = backup["size_mib"]
    steps = (("full_s", "full backup"), ("incremental_s", "incremental backup"), ("restore_s", "restore (fsynced)"))
    for ax, (key, title) in zip(axes, steps):
        rates = [mib / backup[t][key] for t in tools]
        bars = ax.bar(tools, rates, color=["C0", "C1", "C2"][:len(tools)])
        ax.bar_label(bars, fmt="%.0f")
        ax.set_title(title)
        ax.set_ylabel(f"MiB/s of the {mib} MiB workload")
    floor = mib / backup["floor_s"]
    axes[0].axhline(floor, ls=":", color="grey", label="read + hash + compress, 1 thread")
    axes[0].set_ylim(top=1.25 * max(floor, *(mib / backup[t]["full_s"] for t in tools)))
    axes[0].legend(loc="upper right")
    return _save(figure, path)
