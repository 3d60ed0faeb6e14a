"""The URL status crawler's client: submit URLs to the server, poll until ready, print `code<TAB>url` lines.

Exit status: 0 when every URL got an HTTP code, 1 when some did not (or the server failed), 2 for usage errors.
"""

import argparse
import asyncio
import contextlib
import sys
import time
from typing import TextIO

import httpx


DEFAULT_SERVER = "http://127.0.0.1:8888"
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 1.0


class CrawlError(Exception):
    """The server could not be reached or answered something unexpected."""


async def crawl(server: str, urls: list[str], timeout: float, stderr: TextIO) -> list[int | str]:
    """Submit the URLs as one task and return its result once ready, within the timeout."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server, timeout=min(timeout, 10.0)) as client:
        try:
            answer = await client.post("/api/v1/tasks/", json=urls)
        except httpx.HTTPError as error:
            raise CrawlError(f"cannot reach the server at {server}: {error or type(error).__name__}") from error
        if answer.status_code != 201:
            raise CrawlError(f"the server refused the task ({answer.status_code}): {answer.text[:300]}")
        task_id = answer.json()["id"]
        pause = FIRST_PAUSE
        while True:
            if time.monotonic() + pause > deadline:
                raise CrawlError(f"task {task_id} not ready within {timeout:g} s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
            try:
                answer = await client.get(f"/api/v1/tasks/{task_id}")
            except httpx.HTTPError as error:
                raise CrawlError(f"lost the server at {server}: {error or type(error).__name__}") from error
            if answer.status_code != 200:
                raise CrawlError(f"polling failed ({answer.status_code}): {answer.text[:300]}")
            task = answer.json()
            if task["status"] == "ready":
                result: list[int | str] = task["result"]
                return result
            print(f"crawl.py: task {task_id} running", file=stderr)


def main(argv: list[str], stdout: TextIO, stderr: TextIO) -> int:
    """Run the client with the given arguments and streams; return the exit status."""
    parser = argparse.ArgumentParser(prog="crawl.py", description=__doc__)
    parser.add_argument("urls", nargs="+", metavar="URL")
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument("--timeout", type=float, default=300.0)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit as exit_:
        return 2 if exit_.code else 0
    try:
        result = asyncio.run(crawl(args.server, args.urls, args.timeout, stderr))
    except CrawlError as error:
        print(f"crawl.py: {error}", file=stderr)
        return 1
    for code, url in zip(result, args.urls, strict=True):
        print(f"{code}\t{url}", file=stdout)
    return 0 if all(isinstance(code, int) for code in result) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sys.stdout, sys.stderr))
