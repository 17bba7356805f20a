"""The control-plane benchmark runs end to end and writes its figures; how
fast they are is the benchmark's to print, never a test's to assert."""

import json
import subprocess
import sys


def test_control_plane_benchmark_reports_every_figure(tmp_path):
    out = tmp_path / "figures.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.control_plane", "--sequential", "5", "--seconds", "0.5",
         "--clients", "1,2", "--json", str(out)],
        capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr
    assert "sequential create->available, 5 creates" in run.stdout
    figures = json.loads(out.read_text())
    assert set(figures["sequential"]["latency_ms"]) == {"p50", "p95", "p99"}
    assert [r["clients"] for r in figures["concurrent"]] == [1, 2]
    for run_figures in figures["concurrent"]:
        assert run_figures["creates"] > 0 and run_figures["deletes_per_s"] > 0
