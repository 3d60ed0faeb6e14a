"""The command line and environment both servers take, and their console log.

Each server follows the one configuration convention (settings_env.py): a setting comes from its flag, else its
variable, else its default. The two servers run side by side with different ports, so each has its own prefix,
its name: `SYNC_SERVER_` and `ASYNC_SERVER_` (`SYNC_SERVER_PORT`, `ASYNC_SERVER_UPSTREAM_TIMEOUT`). The upstream
URLs also answer to the names both servers have always read, `OPEN_METEO_URL` and `OPEN_METEO_GEOCODING_URL`,
after their own.
"""

import argparse
import logging
import sys
from collections.abc import Mapping
from typing import TextIO

from settings_env import environment_defaults, port_number, positive_int, positive_seconds
from SyncAsync.core.upstream import UpstreamSettings


FORECAST_ENV = "OPEN_METEO_URL"
GEOCODING_ENV = "OPEN_METEO_GEOCODING_URL"
MAX_UPSTREAM_TIMEOUT = 60.0


def upstream_timeout(text: str) -> float:
    value = positive_seconds(text)
    if value > MAX_UPSTREAM_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r} is over {MAX_UPSTREAM_TIMEOUT:g} seconds")
    return value


def base_url(text: str) -> str:
    """An argparse type: an http or https URL."""
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


def parser(description: str, port: int) -> argparse.ArgumentParser:
    """The options both servers take; each server adds its own, then calls `read_environment`."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    arguments.add_argument("--port", type=port_number, default=port, help=f"port to listen on (default {port}; 0: any)")
    arguments.add_argument(
        "--open-meteo-url",
        type=base_url,
        default=UpstreamSettings.forecast_url,
        help=f"the forecast API's base; the forecast is {{base}}/v1/forecast (default {UpstreamSettings.forecast_url})",
    )
    arguments.add_argument(
        "--open-meteo-geocoding-url",
        type=base_url,
        default=UpstreamSettings.geocoding_url,
        help=f"the geocoding API's base; a city is {{base}}/v1/search (default {UpstreamSettings.geocoding_url})",
    )
    arguments.add_argument(
        "--upstream-timeout",
        type=upstream_timeout,
        default=UpstreamSettings.timeout,
        help=f"seconds one /weather may wait for open-meteo, retries included, before 504 "
        f"(default {UpstreamSettings.timeout:g}, at most {MAX_UPSTREAM_TIMEOUT:g})",
    )
    arguments.add_argument(
        "--cache-ttl",
        type=positive_seconds,
        default=UpstreamSettings.cache_ttl,
        help=f"seconds a forecast or a city is kept (default {UpstreamSettings.cache_ttl:g})",
    )
    arguments.add_argument(
        "--upstream-per-minute",
        type=positive_int,
        default=UpstreamSettings.calls_per_minute,
        help=f"calls to open-meteo allowed in any minute; past them /weather answers 503 "
        f"(default {UpstreamSettings.calls_per_minute}, under the free tier's 600)",
    )
    return arguments


def read_environment(arguments: argparse.ArgumentParser, prefix: str, environ: Mapping[str, str] | None = None) -> None:
    """Make the parser read the server's variables (`SYNC_SERVER_PORT`...), and the upstream URLs' aliases."""
    aliases = {
        "open_meteo_url": (f"{prefix}_OPEN_METEO_URL", FORECAST_ENV),
        "open_meteo_geocoding_url": (f"{prefix}_OPEN_METEO_GEOCODING_URL", GEOCODING_ENV),
    }
    environment_defaults(arguments, prefix, environ, names=aliases)


def upstream_settings(options: argparse.Namespace) -> UpstreamSettings:
    """The weather client's settings from the options."""
    return UpstreamSettings(
        forecast_url=options.open_meteo_url,
        geocoding_url=options.open_meteo_geocoding_url,
        timeout=options.upstream_timeout,
        cache_ttl=options.cache_ttl,
        calls_per_minute=options.upstream_per_minute,
    )


def log_to(stream: TextIO = sys.stderr) -> None:
    """Log to the console: one line per event, the server's own name first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=stream, force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
