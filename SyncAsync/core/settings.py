"""The command line and environment both servers take, and their console log."""

import argparse
import logging
import math
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from SyncAsync.core.upstream import UpstreamSettings


FORECAST_ENV = "OPEN_METEO_URL"
GEOCODING_ENV = "OPEN_METEO_GEOCODING_URL"
MAX_UPSTREAM_TIMEOUT = 60.0


def positive(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text}")
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive count: {text}")
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text}")
    return value


def upstream_timeout(text: str) -> float:
    value = positive(text)
    if value > MAX_UPSTREAM_TIMEOUT:
        raise argparse.ArgumentTypeError(f"at most {MAX_UPSTREAM_TIMEOUT:g} seconds: {text}")
    return value


def parser(description: str, port: int) -> argparse.ArgumentParser:
    """The options both servers take; each server adds its own."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    arguments.add_argument("--port", type=port_number, default=port, help=f"port to listen on (default {port}; 0: any)")
    arguments.add_argument(
        "--upstream-timeout",
        type=upstream_timeout,
        default=UpstreamSettings.timeout,
        help=f"seconds one /weather may wait for open-meteo, retries included, before 504 "
        f"(default {UpstreamSettings.timeout:g})",
    )
    arguments.add_argument(
        "--cache-ttl",
        type=positive,
        default=UpstreamSettings.cache_ttl,
        help=f"seconds a forecast or a city is kept (default {UpstreamSettings.cache_ttl:g})",
    )
    arguments.add_argument(
        "--upstream-per-minute",
        type=count,
        default=UpstreamSettings.calls_per_minute,
        help=f"calls to open-meteo allowed in any minute; past them /weather answers 503 "
        f"(default {UpstreamSettings.calls_per_minute}, under the free tier's 600)",
    )
    return arguments


def upstream_settings(options: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> UpstreamSettings:
    """The weather client's settings from the options and OPEN_METEO_URL / OPEN_METEO_GEOCODING_URL."""
    return UpstreamSettings(
        forecast_url=environ.get(FORECAST_ENV) or UpstreamSettings.forecast_url,
        geocoding_url=environ.get(GEOCODING_ENV) or UpstreamSettings.geocoding_url,
        timeout=options.upstream_timeout,
        cache_ttl=options.cache_ttl,
        calls_per_minute=options.upstream_per_minute,
    )


def log_to(stream: TextIO = sys.stderr) -> None:
    """Log to the console: one line per event, the server's own name first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=stream, force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
