"""The plot of a stress run: requests per second and p95 latency of every endpoint on both servers, over time,
drawn from locust's `--csv-full-history` file."""

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib as mpl


mpl.use("Agg")  # no display: the plot is a file

import matplotlib.pyplot as plt  # after the backend is chosen


Series = dict[str, list[tuple[float, float]]]  # request name -> (seconds into the run, value)
STYLES = {"sync": "-", "async": "--"}


def read_history(history: Path) -> tuple[Series, Series]:
    """Requests/s and p95 (ms) per request name, from locust's stats history CSV."""
    rates: Series = defaultdict(list)
    p95s: Series = defaultdict(list)
    with history.open(newline="", encoding="utf-8") as file:
        rows = [row for row in csv.DictReader(file) if row["Name"] != "Aggregated"]
    if not rows:
        return rates, p95s
    start = min(int(row["Timestamp"]) for row in rows)
    for row in rows:
        seconds = int(row["Timestamp"]) - start
        rates[row["Name"]].append((seconds, float(row["Requests/s"])))
        p95 = row["95%"]
        if p95 not in ("N/A", "") and float(p95) > 0:  # before the first answer locust writes 0
            p95s[row["Name"]].append((seconds, float(p95)))
    return rates, p95s


def plot(history: Path, png: Path) -> None:
    """Draw the run into a PNG: one colour per endpoint, solid for the sync server, dashed for the async one."""
    rates, p95s = read_history(history)
    endpoints = sorted({name.split(" ", 1)[1] for name in rates})
    colours = {endpoint: plt.get_cmap("tab10")(index) for index, endpoint in enumerate(endpoints)}
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    for axis, series, label in ((top, rates, "requests/s"), (bottom, p95s, "p95 latency (ms)")):
        for name in sorted(series):
            server, endpoint = name.split(" ", 1)
            seconds, values = zip(*series[name], strict=True) if series[name] else ((), ())
            axis.plot(seconds, values, STYLES.get(server, ":"), color=colours[endpoint], label=name)
        axis.set_ylabel(label)
        axis.grid(visible=True, alpha=0.3)
    bottom.set_yscale("log")
    bottom.set_xlabel("seconds into the run")
    top.set_title("Stress run: sync server (solid) and async server (dashed), per endpoint")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    figure.tight_layout()
    figure.savefig(png, dpi=100)
    plt.close(figure)
