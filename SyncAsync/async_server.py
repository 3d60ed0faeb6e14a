"""The asynchronous server: the same service on aiohttp, every request a task on one event loop that nothing blocks.

/io_task awaits its sleep, /weather awaits the shared weather client, and /cpu_task runs in a process pool, so
the loop keeps answering /hello meanwhile. Every response carries `X-Served-By: async-server` (set by the
`served_by` middleware, which makes every error answer itself), every error is the core's JSON, including the ones
aiohttp makes itself for requests it cannot parse. SIGTERM and Ctrl-C stop it cleanly.

    python SyncAsync/async_server.py [--host 127.0.0.1] [--port 8002]   # or ASYNC_SERVER_PORT=8002 ...
"""

import argparse
import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from settings_env import bound_socket, cannot_listen, positive_int
from SyncAsync.core.answers import MAX_BODY, SERVED_BY, Answer, ApiError, error_answer
from SyncAsync.core.cpu import cpu_work
from SyncAsync.core.incoming import echoed, parse_query
from SyncAsync.core.routes import (
    HELLO,
    ROUTES,
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
from SyncAsync.core.transports import AsyncWeatherClient
from SyncAsync.core.upstream import UpstreamSettings, WeatherService
from SyncAsync.core.weather import WeatherQuery


NAME = "async-server"
PORT = 8002
PREFIX = "ASYNC_SERVER"  # its variables: ASYNC_SERVER_PORT, ...
CPU_QUEUE = 4  # /cpu_task requests in hand per pool process; past them, 503
SHUTDOWN_TIMEOUT = 15.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LINGER = 2.0  # seconds the unread body of an answered request is drained before the close (aiohttp's is 10)
log = logging.getLogger(NAME)
WEATHER = web.AppKey("weather", AsyncWeatherClient)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CpuPool:
    """A process pool for CPU-bound work, with a bound on the requests waiting for it."""

    def __init__(self, workers: int) -> None:
        # Forked at start, before the server has a thread or a signal handler: a spawned or forkserver process
        # would import the whole server again (seconds per process on a busy machine) for a function of 5 lines.
        context = multiprocessing.get_context("fork")
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=leave_signals_to_the_server)
        self.limit = workers * CPU_QUEUE
        self.in_hand = 0

    async def run(self, n: int) -> int:
        if self.in_hand >= self.limit:
            raise ApiError(503, "the CPU pool is busy; try again", (("Retry-After", "1"),))
        self.in_hand += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, cpu_work, n)
        finally:
            self.in_hand -= 1


CPU_POOL = web.AppKey("cpu_pool", CpuPool)


def leave_signals_to_the_server() -> None:
    """In a pool process: Ctrl-C reaches the whole process group, and stopping is the server's job."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def to_response(answer: Answer) -> web.Response:
    # All headers as one tuple of pairs: of the ways aiohttp takes them, the quickest (a dict is the slowest).
    headers = ((hdrs.CONTENT_TYPE, answer.content_type), *answer.headers)
    return web.Response(status=answer.status, body=answer.body, headers=headers)


def served(response: web.StreamResponse) -> web.StreamResponse:
    response.headers[SERVED_BY] = NAME
    return response


@web.middleware
async def served_by(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer of the application with the X-Served-By header, and every error as the core's JSON: aiohttp's
    own (413, a 404 for a target that is not a path), refusals, and anything unexpected.

    One middleware for both rather than a second one or an on_response_prepare hook: each would cost every
    request, /hello's included, a further coroutine.
    """
    try:
        length = request.headers.get(hdrs.CONTENT_LENGTH)  # digits: aiohttp's parser refuses any other value
        if length is not None and int(length) > MAX_BODY:
            raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
        response = await handler(request)
    except ApiError as error:
        response = to_response(error.answer())
        if error.status == 413:
            response.force_close()  # rather than read the refused body to its end
    except web.HTTPException as error:
        if error.status < 400:
            error.headers[SERVED_BY] = NAME
            raise
        allow = (("Allow", error.headers["Allow"]),) if "Allow" in error.headers else ()
        message = f"the body is larger than {MAX_BODY} bytes" if error.status == 413 else None
        response = to_response(error_answer(error.status, message, allow))
    except Exception:
        log.exception("%s %s failed", request.method, request.path if request.path in ROUTES else "(a path)")
        response = to_response(error_answer(500))
    response.headers[SERVED_BY] = NAME
    return response


async def expectation(request: web.Request) -> web.StreamResponse | None:
    """`Expect: 100-continue` answered as aiohttp does; any other expectation the core's JSON 417. aiohttp asks
    this before the middleware runs, so its answer carries the header itself."""
    if request.version != HttpVersion11:
        return None  # HTTP/1.0 has no expectations to meet
    if request.headers[hdrs.EXPECT].lower() != "100-continue":
        return served(to_response(error_answer(417)))
    await request.writer.write(CONTINUE)
    return None


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering a request it cannot parse with the core's JSON error and the
    X-Served-By header (such a request never reaches the application and its middleware),
    and answering a client that half-closes after its request rather than dropping it."""

    def eof_received(self) -> bool:  # type: ignore[override] # asyncio.Protocol's own signature
        if not self._messages and self._waiter is not None:
            return False  # waiting for a request, so none is in hand: asyncio closes the connection
        self.close()  # no further requests; the ones in hand are answered, then the connection closes
        return True  # keep our sending side open for them

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("error handling a request", exc_info=exc)
        else:
            log.info("refused a request it cannot parse: %d", status)
        response = served(to_response(error_answer(status)))
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """An AppRunner whose connections are handled by JsonErrorRequestHandler."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return JsonErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **self._kwargs,
        )


async def hello(request: web.Request) -> web.StreamResponse:
    return to_response(HELLO)


async def echo(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    return to_response(echo_answer(echoed(request.headers.get("Content-Type", ""), body)))


async def weather(request: web.Request) -> web.StreamResponse:
    query = parse_query(WeatherQuery, request.query_string)
    return to_response(weather_answer(await request.app[WEATHER].report(query)))


async def io_task(request: web.Request) -> web.StreamResponse:
    task = parse_query(IoTask, request.query_string)
    await asyncio.sleep(task.seconds)
    return to_response(io_task_answer(task))


async def cpu_task(request: web.Request) -> web.StreamResponse:
    task = parse_query(CpuTask, request.query_string)
    return to_response(cpu_task_answer(task, await request.app[CPU_POOL].run(task.n)))


async def failing_task(request: web.Request) -> web.StreamResponse:
    return to_response(error_task())


async def unrouted(request: web.Request) -> web.StreamResponse:
    """Any other path or method: the core's 404, or its 405 with Allow, as on the sync server."""
    methods = allowed(request.path)
    if methods is None:
        return to_response(error_answer(404))
    return to_response(error_answer(405, headers=(("Allow", ", ".join(methods)),)))


HANDLERS: dict[str, Handler] = {
    "/hello": hello,
    "/echo": echo,
    "/weather": weather,
    "/io_task": io_task,
    "/cpu_task": cpu_task,
    "/error_task": failing_task,
}


def create_app(settings: UpstreamSettings, cpu_workers: int = 0) -> web.Application:
    """The application: the core's routes, the shared weather client and the CPU pool made at start."""
    app = web.Application(middlewares=[served_by], client_max_size=MAX_BODY)
    for path, methods in ROUTES.items():
        if "GET" in methods:
            app.router.add_get(path, HANDLERS[path], expect_handler=expectation)  # and HEAD
        else:
            for method in methods:
                app.router.add_route(method, path, HANDLERS[path], expect_handler=expectation)
    # Last, so that every path has a route and so the expectation above; aiohttp's own would answer in text.
    app.router.add_route("*", "/{path:.*}", unrouted, expect_handler=expectation)

    async def weather_client(app: web.Application) -> AsyncIterator[None]:
        client = AsyncWeatherClient(WeatherService(settings))
        app[WEATHER] = client
        yield
        await client.close()

    async def cpu_pool(app: web.Application) -> AsyncIterator[None]:
        pool = CpuPool(cpu_workers or os.cpu_count() or 1)
        app[CPU_POOL] = pool
        await asyncio.gather(*(pool.run(0) for _ in range(pool.limit // CPU_QUEUE)))  # start the processes now
        yield
        pool.executor.shutdown(wait=True, cancel_futures=True)

    app.cleanup_ctx.extend([weather_client, cpu_pool])
    return app


async def serve(app: web.Application, sock: socket.socket) -> None:
    """Serve until SIGTERM or SIGINT, then stop cleanly: no new connections, requests in hand answered."""
    stop = asyncio.Event()
    runner = Runner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None, lingering_time=LINGER)
    await runner.setup()  # the process pool forks here, before the signal handlers
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        host, port = sock.getsockname()[:2]
        log.info("serving on http://%s:%d", host, port)
        await stop.wait()
    finally:
        await runner.cleanup()


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """The options: each flag, else its ASYNC_SERVER_* variable (or alias), else its default."""
    arguments = parser(f"The asynchronous server (aiohttp); bodies up to {MAX_BODY} bytes.", PORT)
    arguments.add_argument(
        "--cpu-workers", type=positive_int, default=0, help="processes for /cpu_task (default: one per CPU)"
    )
    read_environment(arguments, PREFIX, environ)
    return arguments.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    log_to()
    try:
        sock = bound_socket(options.host, options.port)
    except OSError as error:
        log.error("%s", cannot_listen(options.host, options.port, error, f"{PREFIX}_PORT", "run-async"))
        return 1
    app = create_app(upstream_settings(options), options.cpu_workers)
    asyncio.run(serve(app, sock))
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
