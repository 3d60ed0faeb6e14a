"""The URL status crawler's client: submit URLs to the server, poll until ready, print `code<TAB>url` lines.

Settings: each flag, else its variable (CRAWLER_SERVER, CRAWLER_TIMEOUT), else its default.
Exit status: 0 when every URL got an HTTP code, 1 when some did not (or the server failed), 2 for usage errors,
130 when interrupted (Ctrl-C).
"""

import argparse
import asyncio
import contextlib
import os
import sys
import time
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

from settings_env import environment_defaults, positive_seconds


DEFAULT_SERVER = "http://127.0.0.1:8888"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
FIRST_PAUSE = 0.01
LONGEST_PAUSE = 1.0
LONGEST_WAIT = 10.0  # seconds each poll asks the server to wait for the task to be ready
PROGRESS_EVERY = 5.0  # seconds between "still running" lines on stderr
MISSING_GRACE = 10.0  # seconds a task this client created may be unknown (its Redis restarted) before giving up


class CrawlError(Exception):
    """The server could not be reached or answered something unexpected."""


def task_of(answer: httpx.Response, expected: int, doing: str) -> dict[str, Any]:
    """The task in the answer; CrawlError naming what failed otherwise."""
    if answer.status_code != expected:
        raise CrawlError(f"{doing} failed ({answer.status_code}): {answer.text[:300]}")
    try:
        task = answer.json()
    except ValueError as error:
        raise CrawlError(f"{doing}: the server's answer is not JSON: {answer.text[:100]!r}") from error
    if not isinstance(task, dict) or "id" not in task or "status" not in task:
        raise CrawlError(f"{doing}: the server's answer is not a task: {answer.text[:100]!r}")
    return task


async def crawl(server: str, urls: list[str], timeout: float, stderr: TextIO) -> list[int | str]:
    """Submit the URLs as one task and return its result once ready, within the timeout."""
    deadline = time.monotonic() + timeout
    # A plain-HTTP server needs no TLS: not loading the CA bundle spares a tenth of a cached crawl's time.
    verify = urlsplit(server).scheme == "https"
    async with httpx.AsyncClient(base_url=server, timeout=min(timeout, 10.0), trust_env=False, verify=verify) as client:
        try:
            task = task_of(await client.post("/api/v1/tasks/", json=urls), 201, "submitting the task")
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise CrawlError(f"cannot reach the server at {server}: {error or type(error).__name__}") from error
        print(f"crawl.py: task {task['id']} running ({len(urls)} URLs)", file=stderr)
        pause, said = FIRST_PAUSE, time.monotonic()
        missing_since: float | None = None
        while task["status"] != "ready":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CrawlError(f"task {task['id']} not ready within {timeout:g} s")
            wait = round(min(LONGEST_WAIT, remaining), 3)  # the server answers as soon as the task is ready
            try:
                answer = await client.get(f"/api/v1/tasks/{task['id']}", params={"wait": wait}, timeout=wait + 10)
            except httpx.HTTPError as error:
                raise CrawlError(f"lost the server at {server}: {error or type(error).__name__}") from error
            if answer.status_code == 503:  # Redis is briefly away: keep polling until the deadline
                print(f"crawl.py: {answer.text[:200]!r}", file=stderr)
            elif answer.status_code == 404 and time.monotonic() - (missing_since or time.monotonic()) < MISSING_GRACE:
                # Created, so it exists: its Redis lost it, and the server running it writes it again shortly.
                if missing_since is None:
                    missing_since = time.monotonic()
                    print(f"crawl.py: task {task['id']} unknown to the server for now, still asking", file=stderr)
            else:
                missing_since = None
                task = task_of(answer, 200, "polling the task")
                if task["status"] == "ready":
                    break
            if time.monotonic() - said > PROGRESS_EVERY:
                print(f"crawl.py: task {task['id']} still running", file=stderr)
                said = time.monotonic()
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, LONGEST_PAUSE)
    result = task.get("result")
    if not isinstance(result, list) or len(result) != len(urls):
        raise CrawlError(f"task {task['id']} is ready without one result per URL")
    return result


def main(argv: list[str], stdout: TextIO, stderr: TextIO) -> int:
    """Run the client with the given arguments and streams; return the exit status."""
    parser = argparse.ArgumentParser(prog="crawl.py", description=__doc__)
    parser.add_argument("urls", nargs="+", metavar="URL")
    parser.add_argument("--server", default=DEFAULT_SERVER, help=f"the crawler server (default: {DEFAULT_SERVER})")
    parser.add_argument("--timeout", type=positive_seconds, default=300.0, help="overall deadline in seconds (300)")
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            environment_defaults(parser, "CRAWLER")
            args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    try:
        result = asyncio.run(crawl(args.server, args.urls, args.timeout, stderr))
    except CrawlError as error:
        print(f"crawl.py: {error}", file=stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("crawl.py: interrupted", file=stderr)
        return EXIT_INTERRUPTED
    try:
        for code, url in zip(result, args.urls, strict=True):
            print(f"{code}\t{url}", file=stdout)
        stdout.flush()
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say to it
        return EXIT_FAILED
    return EXIT_OK if all(isinstance(code, int) for code in result) else EXIT_FAILED


if __name__ == "__main__":
    status = main(sys.argv[1:], sys.stdout, sys.stderr)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # spare the interpreter's own flush at exit the same error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(status)
