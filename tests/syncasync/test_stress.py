"""A few seconds of the stress run, to prove the locustfile, the runner and the plot work end to end."""

import csv
import subprocess
import sys
from pathlib import Path

from devtools.servers import REPO
from devtools.syncasync_server import KINDS


ENDPOINTS = ("/hello", "/echo", "/weather", "/io_task", "/cpu_task", "/error_task")


def test_a_short_stress_run_writes_csvs_and_a_plot(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "SyncAsync.stress", "--out", str(tmp_path), "--users", "4", "--run-time", "5s"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    with (tmp_path / "sync-async-stress_stats.csv").open(newline="") as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}
    for kind in KINDS:
        assert int(rows[f"{kind} /hello"]["Request Count"]) > 0  # the header was checked on each of them
        for endpoint in ENDPOINTS:
            if f"{kind} {endpoint}" in rows:
                assert rows[f"{kind} {endpoint}"]["Failure Count"] == "0"
    assert (tmp_path / "sync-async-stress_stats_history.csv").stat().st_size > 0
    assert (tmp_path / "sync-async-stress.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
