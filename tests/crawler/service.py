"""The crawler's server as the tests run it (offline resolver, see offline.py) and the API calls they repeat."""

import time
from contextlib import AbstractContextManager
from typing import Any

import httpx

from devtools.servers import Output, RunningServer, running_server


POLL = 0.02


def crawler(
    *flags: str, env: dict[str, str] | None = None, stderr: Output = None
) -> AbstractContextManager[RunningServer]:
    """FastAPI/server.py on a free loopback port, resolving no names; flags as the server takes them."""
    return running_server(["-m", "tests.crawler.offline", *flags], env=env, stderr=stderr)


def submit(server: RunningServer, urls: list[str]) -> str:
    """POST the URLs as a task; its id."""
    answer = httpx.post(f"{server.url}/api/v1/tasks/", json=urls, timeout=30)
    assert answer.status_code == 201, answer.text
    task = answer.json()
    assert task["status"] == "running"
    task_id: str = task["id"]
    return task_id


def wait_ready(server: RunningServer, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll the task until it is ready, within the timeout; the task."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while True:
            answer = client.get(f"/api/v1/tasks/{task_id}")
            assert answer.status_code == 200, answer.text
            task: dict[str, Any] = answer.json()
            if task["status"] == "ready":
                return task
            assert time.monotonic() < deadline, f"task {task_id} not ready within {timeout} s"
            time.sleep(POLL)


def results(server: RunningServer, urls: list[str], timeout: float = 20.0) -> list[int | str]:
    """Crawl the URLs as one task; its result."""
    result: list[int | str] = wait_ready(server, submit(server, urls), timeout)["result"]
    return result
