"""The synchronous server: HTTP/1.1 on the `socket` module only, handlers that block, one request at a time per
connection, in a bounded pool of worker threads (serving.py; reader.py and http11.py read and write the bytes).

Every connection has a deadline: its whole request must arrive within --timeout seconds, and an idle keep-alive
one is closed after as long. SIGTERM and Ctrl-C stop it cleanly: no new connections, the requests in hand
answered, then exit 0.

    python SyncAsync/sync_server.py [--host 127.0.0.1] [--port 8001]   # or SYNC_SERVER_PORT=8001 ...
"""

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

from settings_env import cannot_listen, positive_int, positive_seconds
from SyncAsync.core.answers import MAX_BODY, Answer, ApiError, error_answer
from SyncAsync.core.cpu import cpu_work
from SyncAsync.core.incoming import echoed, parse_query
from SyncAsync.core.routes import (
    HELLO,
    CpuTask,
    IoTask,
    allowed,
    cpu_task_answer,
    echo_answer,
    error_task,
    io_task_answer,
    weather_answer,
)
from SyncAsync.core.settings import log_to, parser, read_environment, upstream_settings
from SyncAsync.core.transports import SyncWeatherClient
from SyncAsync.core.upstream import WeatherService
from SyncAsync.core.weather import WeatherQuery
from SyncAsync.http11 import Request
from SyncAsync.serving import MAX_CONNECTIONS, TIMEOUT, WORKERS, SyncServer


NAME = "sync-server"
PORT = 8001
PREFIX = "SYNC_SERVER"  # its variables: SYNC_SERVER_PORT, ...
log = logging.getLogger(NAME)


class Routes:
    """The service: the core's routes, run with blocking calls."""

    def __init__(self, weather: SyncWeatherClient) -> None:
        self.weather = weather
        self.handlers: dict[str, Callable[[Request], Answer]] = {
            "/hello": lambda request: HELLO,
            "/echo": self.echo,
            "/weather": self.weather_report,
            "/io_task": self.io_task,
            "/cpu_task": self.cpu_task,
            "/error_task": lambda request: error_task(),
        }

    def __call__(self, request: Request) -> Answer:
        methods = allowed(request.path)
        if methods is None:
            return error_answer(404)
        if request.method not in methods:
            return error_answer(405, headers=(("Allow", ", ".join(methods)),))
        try:
            return self.handlers[request.path](request)
        except ApiError as error:
            return error.answer()
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return error_answer(500)

    def echo(self, request: Request) -> Answer:
        return echo_answer(echoed(request.headers.get("content-type", ""), request.body))

    def weather_report(self, request: Request) -> Answer:
        return weather_answer(self.weather.report(parse_query(WeatherQuery, request.query)))

    def io_task(self, request: Request) -> Answer:
        task = parse_query(IoTask, request.query)
        time.sleep(task.seconds)
        return io_task_answer(task)

    def cpu_task(self, request: Request) -> Answer:
        task = parse_query(CpuTask, request.query)
        return cpu_task_answer(task, cpu_work(task.n))


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """The options: each flag, else its SYNC_SERVER_* variable (or alias), else its default."""
    arguments = parser(f"The synchronous server (socket module only); bodies up to {MAX_BODY} bytes.", PORT)
    arguments.add_argument("--workers", type=positive_int, default=WORKERS, help=f"worker threads (default {WORKERS})")
    arguments.add_argument(
        "--timeout",
        type=positive_seconds,
        default=TIMEOUT,
        help=f"seconds a connection may take per request (default {TIMEOUT:g})",
    )
    arguments.add_argument(
        "--max-connections",
        type=positive_int,
        default=MAX_CONNECTIONS,
        help=f"open connections (default {MAX_CONNECTIONS})",
    )
    read_environment(arguments, PREFIX, environ)
    return arguments.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    log_to()
    weather = SyncWeatherClient(WeatherService(upstream_settings(options)))
    try:
        server = SyncServer(
            Routes(weather),
            options.host,
            options.port,
            name=NAME,
            workers=options.workers,
            timeout=options.timeout,
            max_connections=options.max_connections,
        )
    except OSError as error:
        log.error("%s", cannot_listen(options.host, options.port, error, f"{PREFIX}_PORT", "run-sync"))
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.address
    log.info("serving on http://%s:%d", host, port)
    try:
        server.serve_forever()
    finally:
        weather.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
