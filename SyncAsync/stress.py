"""`make stress`: both servers and the local stand-in for open-meteo on free ports, headless locust against them,
then locust's CSVs and a plot of them in the output folder (docs/ by default).

    python -m SyncAsync.stress [--out docs] [--users 40] [--spawn-rate 20] [--run-time 45s] [--doc docs/sync-async.md]

Writes PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv, PREFIX_exceptions.csv and PREFIX.png, and
with --doc a table of the run's figures into that page between its `stress:summary` markers.
Exit status: locust's (0 when no request failed), 1 when a server or the fake would not start.
"""

import argparse
import contextlib
import csv
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.figures import write_between_markers
from SyncAsync.stress_plot import plot


HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOOPBACK = "127.0.0.1"
PREFIX = "sync-async-stress"
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {START_TIMEOUT:g} s")


@contextlib.contextmanager
def started(script: str, port: int, env: dict[str, str]) -> Iterator[str]:
    """Run one of SyncAsync's scripts on the port until the block ends; yield its URL."""
    command = [sys.executable, str(HERE / script), "--port", str(port)]
    with subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL) as process:
        try:
            wait_for(port, process)
            yield f"http://{LOOPBACK}:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def run(out: Path, users: int, spawn_rate: float, run_time: str, prefix: str = PREFIX) -> int:
    """The stress run; returns locust's exit status."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(started("fake_open_meteo.py", free_port(), env))
        env |= {"OPEN_METEO_URL": fake, "OPEN_METEO_GEOCODING_URL": fake}
        env["SYNC_URL"] = stack.enter_context(started("sync_server.py", free_port(), env))
        env["ASYNC_URL"] = stack.enter_context(started("async_server.py", free_port(), env))
        command = [
            *(sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary"),
            *("--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", run_time, "--stop-timeout", "5"),
            *("--csv", str(out / prefix), "--csv-full-history", "--loglevel", "WARNING"),
        ]
        status = subprocess.run(command, cwd=REPO, env=env, check=False).returncode
    plot(out / f"{prefix}_stats_history.csv", out / f"{prefix}.png")
    print(f"wrote {out / prefix}_*.csv and {out / prefix}.png", file=sys.stderr)
    return status


def summary(stats: Path, users: int, run_time: str) -> list[str]:
    """The run's figures per endpoint and server, from locust's stats CSV, as a Markdown table."""
    with stats.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    lines = [
        f"Run of {when} UTC: {users} users for {run_time}, {os.cpu_count()} cores shared by locust, both servers and "
        f"the fake upstream (load average {os.getloadavg()[0]:.1f} at the end).",
        "",
        "| requests | count | failures | req/s | median ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda row: (row["Name"] == "Aggregated", row["Name"].split(" ")[-1], row["Name"])):
        lines.append(
            f"| {row['Name']} | {row['Request Count']} | {row['Failure Count']} | {float(row['Requests/s']):.1f} "
            f"| {row['50%']} | {row['95%']} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description="Stress both servers with headless locust and plot the run.")
    arguments.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the CSVs and the plot")
    arguments.add_argument("--users", type=int, default=40, help="concurrent users, half per server (default 40)")
    arguments.add_argument("--spawn-rate", type=float, default=20, help="users started per second (default 20)")
    arguments.add_argument("--run-time", default="45s", help="how long, in locust's notation (default 45s)")
    arguments.add_argument("--doc", type=Path, help="a page with stress:summary markers to write the figures into")
    options = arguments.parse_args(argv)
    try:
        status = run(options.out, options.users, options.spawn_rate, options.run_time)
    except RuntimeError as error:
        print(f"stress: {error}", file=sys.stderr)
        return 1
    if options.doc is not None:
        lines = summary(options.out / f"{PREFIX}_stats.csv", options.users, options.run_time)
        write_between_markers(options.doc, "stress:summary", lines)
    return status


if __name__ == "__main__":
    sys.exit(main())
