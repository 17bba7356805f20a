"""The benchmarks run end to end and write their figures; how fast they are
is the benchmarks' to print, never a test's to assert."""

import json
import subprocess
import sys


def test_control_plane_benchmark_reports_every_figure(tmp_path):
    out = tmp_path / "figures.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.control_plane", "--sequential", "5", "--seconds", "0.5",
         "--clients", "1,2", "--round-trips", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr
    assert "sequential create->available, 5 creates" in run.stdout
    figures = json.loads(out.read_text())
    assert set(figures["sequential"]["latency_ms"]) == {"p50", "p95", "p99"}
    assert [r["clients"] for r in figures["concurrent"]] == [1, 2]
    for run_figures in figures["concurrent"]:
        assert run_figures["creates"] > 0 and run_figures["deletes_per_s"] > 0
    trips = figures["round_trips_ms"]
    assert set(trips) == {"attach_detach", "snapshot_create_delete", "backup_empty_volume"}
    assert all(t["count"] == 2 and 0 < t["p50"] <= t["p99"] for t in trips.values())
    assert "backup_empty_volume" in run.stdout and f"figures saved to {out}" in run.stdout


def test_backup_benchmark_restores_what_it_backed_up_and_reports_its_figures(tmp_path):
    out = tmp_path / "backup.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.backup", "--size-mib", "256", "--no-compare", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "floor (1 thread" in run.stdout and "RESTORE DIFFERS" not in run.stdout
    figures = json.loads(out.read_text())
    ember = figures["ember"]
    assert ember["same"] is True
    assert ember["full_bytes"] > 0 and 0 < ember["incremental_bytes"] < ember["full_bytes"]
    assert figures["size_mib"] == 256 and figures["changed_bytes"] == 256 * 1024**2 // 100 // 4096 * 4096
