"""`--multihost` of the control-plane and data-path benchmarks builds its own
topology, measures over the bridge and prints the figures beside loopback's;
how fast anything is stays the benchmarks' to print, never a test's to assert."""

import json
import re
import subprocess
import sys

from tests import nbd
from tests.multihost import network

TRIPS = {"attach_detach", "snapshot_create_delete", "backup_empty_volume"}


def run(*argv: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def test_control_plane_over_the_bridge_prints_its_figures_and_create_rates_beside_loopback(tmp_path):
    network.require()
    out = tmp_path / "control_plane.json"
    done = run("bench.control_plane", "--multihost", "--sequential", "3", "--seconds", "0.5", "--clients", "1,2",
               "--round-trips", "1", "--json", str(out))
    figures = json.loads(out.read_text())
    for name in ("loopback", "multihost"):
        measured = figures[name]
        assert measured["sequential"]["creates"] == 3 and measured["sequential"]["latency_ms"]["p50"] > 0, name
        assert [r["clients"] for r in measured["concurrent"]] == [1, 2], name
        assert all(r["creates"] > 0 and r["creates_per_s"] > 0 and r["deletes_per_s"] > 0
                   for r in measured["concurrent"]), name
        assert set(measured["round_trips_ms"]) == TRIPS and all(
            t["count"] == 1 and t["p50"] > 0 for t in measured["round_trips_ms"].values()), name
    assert len(figures["multihost"]["gateways"]) == 2
    assert [r["clients"] for r in figures["same_services"]["concurrent"]] == [1, 2]
    rates = figures["create_rates"]
    assert [row["clients"] for row in rates["rows"]] == [1, 2]
    for row in rates["rows"]:
        assert min(row["loopback"], row["same_services"], row["multihost"]) > 0, row
        assert row["ratio"] == row["multihost"] / row["loopback"], row
        assert row["bridge_ratio"] == row["multihost"] / row["same_services"], row
    assert rates["met"] == (rates["rows"][-1]["ratio"] >= 0.8)

    printed = done.stdout
    assert printed.index("== loopback") < printed.index("== over the bridge") < printed.index("== create rates")
    assert printed.count("sequential create->available, 3 creates") == 2
    assert re.search(r"^\s+2\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+\.\d\d\s+\d+\.\d\d$", printed, re.M)
    assert re.search(r"target create rate over the bridge >= 80% of loopback's at 2 clients: (met|MISSED) "
                     r"\(\d+\.\d\d\); against the same services on loopback .*: \d+\.\d\d", printed)


def test_data_path_over_the_bridge_compares_nbd_from_compute_1_with_direct_on_store_1(tmp_path):
    network.require()
    nbd.require_tools()
    out = tmp_path / "data_path.json"
    done = run("bench.data_path", "--multihost", "--runs", "1", "--json", str(out))
    figures = json.loads(out.read_text())
    assert figures["size_mib"] == 1024 and figures["runs"] == 1 and figures["queued"] == 16
    assert sorted(figures["depths"]) == ["1", "16"]
    for depth, level in figures["depths"].items():
        for kind in ("write", "read"):
            assert level[f"{kind}_direct"] > 0 and level[f"{kind}_nbd"] > 0, (depth, kind)
            assert level[f"{kind}_ratio"] == level[f"{kind}_nbd"] / level[f"{kind}_direct"], (depth, kind)
    assert figures["met"] == (figures["depths"]["16"]["read_ratio"] >= 0.8)

    assert "NBD from compute-1 across the bridge, direct on the file on store-1" in done.stdout
    assert re.search(r"^read\s+16\s+\d+\s+\d+\s+\d+\.\d\d$", done.stdout, re.M)
    assert re.search(r"target NBD reads from compute-1 >= 80% of direct on store-1, 16 requests in flight: "
                     r"(met|MISSED) \(\d+\.\d\d\)", done.stdout)
