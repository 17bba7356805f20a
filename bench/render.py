"""docs/benchmarks.md from the report's figures: tables, ratios, the plots
beside it and the hand-written profiles."""

from __future__ import annotations

from bench.backup import TOOLS
from bench.control_plane import TARGET_CLIENTS, TARGET_CREATES_PER_S, TARGET_P50_MS


def _table(header: list[str], rows: list[list[str]], numbers: bool = True) -> list[str]:
    """Figures right-aligned after a first column of names."""
    rule = "|" + "|".join("---:" if i and numbers else "---" for i in range(len(header))) + "|"
    return ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def _runs(count: int) -> str:
    return "one run" if count == 1 else f"median of {count} runs"


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def machine(m: dict, run: dict) -> list[str]:
    tools = ", ".join(f"{name} {version}" for name, version in m["tools"].items())
    rows = [
        ["CPU", f"{m['cpu']}, {m['cpus']} logical CPUs" + (" (virtual machine)" if m["virtual"] else "")],
        ["Memory", f"{m['memory_gib']:.1f} GiB"],
        ["Kernel", f"Linux {m['kernel']}"],
        ["Filesystem of the data", f"{m['filesystem']} (the temporary directory, where every benchmark works)"],
        ["Python", m["python"]],
        ["Tools", tools],
        ["Load", f"load average {m['load_average'][0]:.2f} at the start, {run['load_average_end'][0]:.2f} at the "
                 f"end; {run['steal']:.1%} of the CPU time stolen by the hypervisor during the run"],
    ]
    return ["## Machine", "", *_table(["", ""], rows, numbers=False)]


def _backup_row(name: str, f: dict, mib: int) -> list[str]:
    return [name, f"{f['full_s']:.2f}", f"{mib / f['full_s']:.0f}", f"{f['full_bytes'] / 2**20:.1f}",
            f"{f['incremental_s']:.2f}", f"{mib / f['incremental_s']:.0f}",
            f"{f['incremental_bytes'] / 2**20:.1f} ({100 * f['incremental_bytes'] / f['full_bytes']:.1f}%)",
            f"{f['restore_s']:.2f}", f"{mib / f['restore_s']:.0f}" + ("" if f["same"] else " (RESTORE DIFFERS)")]


def backup(b: dict, over_nbd: dict) -> list[str]:
    mib = b["size_mib"]
    lines = [f"## Backup, incremental backup, restore ({mib} MiB workload)", "",
             f"`python -m bench.backup`: a volume whose first {mib} MiB hold a quarter random data, a quarter text "
             f"and half never written; a full backup through the gateway, then {b['changed_bytes'] / 2**20:.1f} MiB "
             f"changed in scattered {b['change_kib']} KiB blocks and an incremental backup, then a restore of it to "
             "a new volume, fsynced. restic and borg (their defaults) do the same on a copy of the workload; their "
             "restores are fsynced too. MiB/s are workload MiB over seconds. \"ember over NBD\" is the same run "
             "with Ember's backup service as another host, reading and writing the volumes through their NBD "
             "exports (`--over-nbd`).", ""]
    rows = []
    for tool in TOOLS:
        f = b.get(tool)
        rows.append(_backup_row(tool, f, mib) if f else [tool, "not installed"] + [""] * 7)
        if tool == "ember":
            rows.append(_backup_row("ember over NBD", over_nbd["ember"], mib))
    lines += _table(["tool", "full s", "full MiB/s", "stored MiB", "incremental s", "incremental MiB/s",
                     "incremental stored MiB", "restore s", "restore MiB/s"], rows)
    ember = b["ember"]
    floor_rate = mib / b["floor_s"]
    lines.append(f"- **Ember / floor:** full backup at {b['floor_s'] / ember['full_s']:.2f}x "
                 f"the MiB/s of one thread reading, hashing (BLAKE3) and compressing (zstd) the data once "
                 f"(floor: {floor_rate:.0f} MiB/s).")
    for tool in ("restic", "borg"):
        other = b.get(tool)
        if other:
            lines.append(f"- **Ember / {tool}:** full backup {other['full_s'] / ember['full_s']:.2f}x {tool}'s MiB/s, "
                         f"incremental {other['incremental_s'] / ember['incremental_s']:.2f}x, "
                         f"restore {other['restore_s'] / ember['restore_s']:.2f}x; "
                         f"repository {ember['full_bytes'] / other['full_bytes']:.2f}x {tool}'s size.")
    return lines + ["", "![Ember, restic and borg](benchmarks/backup_tools.png)", ""]


def data_path(d: dict) -> list[str]:
    target, queued = d["target_ratio"], d["queued"]
    cold = "cold (page cache dropped before each run)" if d["reads_cold"] else "warm (the page cache could not be dropped)"
    lines = [f"## NBD data path ({d['size_mib'] // 1024} GiB volume)", "",
             "`python -m bench.data_path`: nbdcopy writes then reads the volume in sequential 1 MiB requests on one "
             "connection, through the volume's NBD export (nbdkit) and directly on its file, with "
             f"{queued} requests in flight (as QEMU's NBD client keeps them) and with one; {_runs(d['runs'])}, the "
             f"two taking turns. Writes end with a flush; reads are {cold}.", ""]

    def verdict(ratio: float) -> str:
        return "met" if ratio >= target else "missed"

    rows = []
    for depth, level in d["depths"].items():
        for kind in ("write", "read"):
            rows.append([kind, depth, f"{level[f'{kind}_direct']:.0f}", f"{level[f'{kind}_nbd']:.0f}",
                         f"{level[f'{kind}_ratio']:.2f}", f">= {target:.2f}: {verdict(level[f'{kind}_ratio'])}"])
    warm = d["warm_read_nbd"] / d["warm_read_direct"]
    rows.append(["read, warm (page cache)", "1", f"{d['warm_read_direct']:.0f}", f"{d['warm_read_nbd']:.0f}",
                 f"{warm:.2f}", "for information"])
    lines += _table(["", "in flight", "direct MiB/s", "NBD MiB/s", "NBD/direct", "target"], rows)
    queued_level, single = d["depths"][str(queued)], d["depths"]["1"]
    lines.append(f"- **NBD/direct with {queued} requests in flight: reads {queued_level['read_ratio']:.2f}, writes "
                 f"{queued_level['write_ratio']:.2f}** (target >= {target:.2f}: "
                 f"{'met' if queued_level['met'] else 'missed'}).")
    lines.append(f"- With one request in flight: reads {single['read_ratio']:.2f} "
                 f"({verdict(single['read_ratio'])}), writes {single['write_ratio']:.2f} "
                 f"({verdict(single['write_ratio'])}). Each request then waits out a whole round trip and the copies "
                 "it takes, which the disk's readahead cannot hide (Profiles, below); the ratio also moves with the "
                 "direct figure, which depends on the disk's cache.")
    lines += ["", "Cold reads with several connections at once (nbdcopy `--connections=N --threads=N`, each "
              "connection reading its share of the volume, one request in flight each):", ""]
    lines += _table(["connections", "direct MiB/s", "NBD MiB/s", "NBD/direct"],
                    [[str(p["connections"]), f"{p['direct']:.0f}", f"{p['nbd']:.0f}", f"{p['ratio']:.2f}"]
                     for p in d["readers"]])
    return lines


def snapshot(s: dict) -> list[str]:
    rows = [["snapshot through the gateway", f"{s['snapshot_s'] * 1000:.1f}", f"{1024 / s['snapshot_s']:.0f}"],
            [f"copy of the {s['data_mib']} MiB of data, fsynced", f"{s['copy_data_s'] * 1000:.1f}",
             f"{s['data_mib'] / s['copy_data_s']:.0f}"],
            ["copy of the whole 1 GiB file, fsynced", f"{s['copy_volume_s'] * 1000:.1f}",
             f"{1024 / s['copy_volume_s']:.0f}"]]
    return [f"## Snapshot (1 GiB volume holding {s['data_mib']} MiB)", "",
            f"`python -m bench.snapshot`, {_runs(s['runs'])}. MiB/s: of the volume for the snapshot and the "
            "whole copy, of the data for the data copy.", "",
            *_table(["", "ms", "MiB/s"], rows),
            f"- **Snapshot / data copy: {s['snapshot_s'] / s['copy_data_s']:.2f}x** the time; "
            f"snapshot / whole copy: {s['snapshot_s'] / s['copy_volume_s']:.3f}x.", ""]


def sweep(w: dict) -> list[str]:
    lines = ["## Throughput against workload size", "",
             "`python -m bench.sweep`: one Ember; for each size, a volume holding the backup workload, a full "
             f"backup, then a restore of it, one at a time; {_runs(w['runs'])}, each run on new volumes.", ""]
    lines += _table(["workload MiB", "full backup MiB/s", "restore MiB/s"],
                    [[str(p["size_mib"]), f"{p['backup_mib_s']:.0f}", f"{p['restore_mib_s']:.0f}"]
                     for p in w["sizes"]])
    lines += ["![Throughput against workload size](benchmarks/throughput_vs_size.png)", "",
              "## Throughput against concurrency", "",
              f"Full backups of N distinct volumes ({w['concurrency_mib']} MiB workload each) requested at once "
              "through one Ember, then restores of them at once; aggregate MiB/s is N workloads over the time until "
              f"the last one is done; {_runs(w['runs'])}. Next to it, the NBD cold reads with N connections from "
              "the table above.", ""]
    lines += _table(["at once", "backups MiB/s", "restores MiB/s"],
                    [[str(p["count"]), f"{p['backup_mib_s']:.0f}", f"{p['restore_mib_s']:.0f}"]
                     for p in w["concurrency"]])
    return lines + ["![Throughput against concurrency](benchmarks/throughput_vs_concurrency.png)", ""]


def control_plane(c: dict) -> list[str]:
    seq = c["sequential"]["latency_ms"]
    lines = ["## Control plane", "",
             "`python -m bench.control_plane`: through the gateway on loopback, each long operation its call "
             "followed by WaitOperation, which returns when the resource's event arrives. The client runs on the "
             "same machine as Ember.", "",
             *_table(["", "p50 ms", "p95 ms", "p99 ms", "target"],
                     [[f"create -> available, {c['sequential']['creates']} one after another", f"{seq['p50']:.1f}",
                       f"{seq['p95']:.1f}", f"{seq['p99']:.1f}",
                       f"p50 <= {TARGET_P50_MS:g} ms: {'met' if seq['p50'] <= TARGET_P50_MS else 'MISSED'}"]]
                     + [[name.replace("_", " "), f"{cuts['p50']:.1f}", f"{cuts['p95']:.1f}", f"{cuts['p99']:.1f}", ""]
                        for name, cuts in c["round_trips_ms"].items()])]
    rows = []
    for run in c["concurrent"]:
        verdict = ""
        if run["clients"] == TARGET_CLIENTS:
            met = run["creates_per_s"] >= TARGET_CREATES_PER_S
            verdict = (f">= {TARGET_CREATES_PER_S:g}/s: {'met' if met else 'MISSED'} "
                       f"({run['creates_per_s'] / TARGET_CREATES_PER_S:.2f}x)")
        rows.append([str(run["clients"]), f"{run['creates_per_s']:.0f}", f"{run['create_latency_ms']['p50']:.1f}",
                     f"{run['create_latency_ms']['p99']:.1f}", f"{run['deletes_per_s']:.0f}", verdict])
    return lines + _table(["clients", "creates/s", "create p50 ms", "create p99 ms", "deletes/s", "target"], rows)


def _bridge_latencies(loopback: dict, bridge: dict) -> list[str]:
    def row(name: str, looped: dict, cuts: dict) -> list[str]:
        return [name, f"{looped['p50']:.1f}", f"{cuts['p50']:.1f}", f"{cuts['p95']:.1f}", f"{cuts['p99']:.1f}"]

    rows = [row("create -> available, one after another", loopback["sequential"]["latency_ms"],
                bridge["sequential"]["latency_ms"])]
    rows += [row(name.replace("_", " "), loopback["round_trips_ms"][name], cuts)
             for name, cuts in bridge["round_trips_ms"].items()]
    return _table(["", "loopback p50 ms", "bridge p50 ms", "bridge p95 ms", "bridge p99 ms"], rows)


def _bridge_rates(bridge: dict, rates: dict) -> list[str]:
    runs = {run["clients"]: run for run in bridge["concurrent"]}
    rows = []
    for i, rate in enumerate(rates["rows"]):
        run = runs[rate["clients"]]
        verdict = ""
        if i == len(rates["rows"]) - 1:
            verdict = f">= {rates['target_ratio']:.2f}: {'met' if rates['met'] else 'MISSED'}"
        rows.append([str(rate["clients"]), f"{rate['loopback']:.0f}", f"{rate['same_services']:.0f}",
                     f"{rate['multihost']:.0f}", f"{rate['ratio']:.2f}", verdict, f"{rate['bridge_ratio']:.2f}",
                     f"{run['create_latency_ms']['p50']:.1f}", f"{run['create_latency_ms']['p99']:.1f}",
                     f"{run['deletes_per_s']:.0f}"])
    return _table(["clients", "loopback creates/s", "same services creates/s", "bridge creates/s",
                   "bridge/loopback", "target", "bridge/same services", "bridge create p50 ms",
                   "bridge create p99 ms", "bridge deletes/s"], rows)


def _bridge_data_path(bridge: dict, loopback: dict) -> list[str]:
    target, queued = bridge["target_ratio"], str(bridge["queued"])
    rows = []
    for depth, level in bridge["depths"].items():
        for kind in ("write", "read"):
            judged = kind == "read" and depth == queued
            verdict = f">= {target:.2f}: {'met' if bridge['met'] else 'MISSED'}" if judged else ""
            rows.append([kind, depth, f"{level[f'{kind}_direct']:.0f}", f"{level[f'{kind}_nbd']:.0f}",
                         f"{level[f'{kind}_ratio']:.2f}", f"{loopback['depths'][depth][f'{kind}_ratio']:.2f}",
                         verdict])
    return _table(["", "in flight", "direct on store-1 MiB/s", "NBD from compute-1 MiB/s", "NBD/direct",
                   "loopback NBD/direct", "target"], rows)


def _trip_count(c: dict) -> int:
    return next(iter(c["round_trips_ms"].values()), {}).get("count", 0)


def multihost(m: dict | None, control: dict, data: dict) -> list[str]:
    lines = ["## Over the bridge (multi-host)", ""]
    if m is None:
        return lines + ["Not measured in this run (`python -m bench.report --no-multihost`).", ""]
    rates, bridge_data = m["create_rates"], m["data_path"]
    last = rates["rows"][-1]
    read = bridge_data["depths"][str(bridge_data["queued"])]["read_ratio"]
    lines += ["`python -m bench.control_plane --multihost` and `python -m bench.data_path --multihost`, in the same "
              "run as the loopback figures above: the reference topology of the multi-host tests (docs/deployment.md), "
              "each host a network namespace of this machine linked to one bridge by a veth pair; PostgreSQL on "
              "db-1, a three-node NATS cluster with 3 replicas, a gateway and a scheduler on each of ctl-1 and ctl-2, "
              "a volume service on each of store-1 and store-2. The control-plane benchmark's client runs on "
              "compute-1, its clients in turn on the two gateways; the loopback run is one Ember with SQLite and "
              "one nats-server. Every host shares this machine's CPUs and disk, so this measures what the bridge "
              "and the topology cost, not what more machines would give. Over the bridge, "
              f"{m['control_plane']['sequential']['creates']} creates one after another and "
              f"{_trip_count(m['control_plane'])} round trips of each kind (loopback: "
              f"{control['sequential']['creates']} and {_trip_count(control)}).", "",
              *_bridge_latencies(control, m["control_plane"]),
              *_bridge_rates(m["control_plane"], rates),
              f"- **Create rate over the bridge / loopback at {last['clients']} clients: {last['ratio']:.2f}** "
              f"(target >= {rates['target_ratio']:.2f}: {'met' if rates['met'] else 'missed'}); over the bridge / "
              f"the same services on loopback: {last['bridge_ratio']:.2f}. \"Same services\" is an Ember on "
              "loopback with the topology's PostgreSQL, three NATS nodes at 3 replicas, settings and two schedulers, "
              "one of each other service: the ratio to it is what the bridge and the hosts cost; the rest is what "
              "that deployment costs on this machine's CPUs (Profiles, below).", "",
              f"nbdcopy with sequential 1 MiB requests on one connection, a {bridge_data['size_mib'] // 1024} GiB "
              "volume of store-1: through its NBD export from compute-1, across the bridge, and directly on its file "
              f"on store-1; {_runs(bridge_data['runs'])}, the two taking turns, reads cold as above.", "",
              *_bridge_data_path(bridge_data, data),
              f"- **NBD reads from compute-1 / direct on store-1 with {bridge_data['queued']} requests in flight: "
              f"{read:.2f}** (target >= {bridge_data['target_ratio']:.2f}: "
              f"{'met' if bridge_data['met'] else 'missed'}).", ""]
    return lines


def document(figures: dict, profiles: str) -> str:
    run = figures["run"]
    lines = ["# Benchmarks", "",
             f"Generated by `python -m bench.report{' --quick' if run['quick'] else ''}` on {run['generated']} "
             f"in {_duration(run['wall_s'])}. Do not edit: regenerate it. The figures are also in "
             "[benchmarks/figures.json](benchmarks/figures.json); the Profiles section comes from "
             "`bench/profiles.md`, which is written by hand."
             + (" **Quick run:** tiny sizes and one run each, to check the report works; these figures say "
                "little about Ember." if run["quick"] else ""), ""]
    lines += machine(figures["machine"], run)
    lines += backup(figures["backup"], figures["backup_over_nbd"])
    lines += data_path(figures["data_path"])
    lines += snapshot(figures["snapshot"])
    lines += sweep(figures["sweep"])
    lines += control_plane(figures["control_plane"])
    lines += multihost(figures.get("multihost"), figures["control_plane"], figures["data_path"])
    lines += ["## Profiles", "", profiles.strip(), ""]
    return "\n".join(lines)
