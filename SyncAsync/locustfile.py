"""The stress test of both servers: one kind of user per server, each sending the same mix of requests.

Requests are named `sync /hello`, `async /hello`, ... so locust's figures come per endpoint and server. The
servers' addresses come from SYNC_URL and ASYNC_URL (default http://127.0.0.1:8001 and :8002); `make stress`
starts both, with a local stand-in for open-meteo, and runs this headless. By hand, with both servers up:

    locust -f SyncAsync/locustfile.py --headless -u 40 -r 20 -t 60s --csv docs/sync-async-stress
"""

import os
import random

from locust import FastHttpUser, between, task


COORDINATES = [(52.52, 13.41), (51.51, -0.13), (35.69, 139.69), (48.85, 2.35), (40.71, -74.01)]
ECHOED = {"name": "Romana", "regenerations": 3, "companions": ["K9"]}


class ServerUser(FastHttpUser):
    """One client of a server: mostly /hello, some of every other endpoint."""

    abstract = True
    server = ""
    wait_time = between(0.0, 0.05)

    def named(self, path: str) -> str:
        return f"{self.server} {path}"

    @task(6)
    def hello(self) -> None:
        with self.client.get("/hello", name=self.named("/hello"), catch_response=True) as response:
            if response.headers.get("X-Served-By") != f"{self.server}-server":
                response.failure("no X-Served-By header naming the server")

    @task(2)
    def echo(self) -> None:
        self.client.post("/echo", json=ECHOED, name=self.named("/echo"))

    @task(2)
    def weather(self) -> None:
        latitude, longitude = random.choice(COORDINATES)  # noqa: S311 # a load mix, not a secret
        self.client.get(f"/weather?latitude={latitude}&longitude={longitude}", name=self.named("/weather"))

    @task(1)
    def io_task(self) -> None:
        self.client.get("/io_task?seconds=0.1", name=self.named("/io_task"))

    @task(1)
    def cpu_task(self) -> None:
        self.client.get("/cpu_task?n=100000", name=self.named("/cpu_task"))

    @task(1)
    def error_task(self) -> None:
        with self.client.get("/error_task", name=self.named("/error_task"), catch_response=True) as response:
            if response.status_code == 500 and response.headers.get("Content-Type") == "application/json":
                response.success()  # the 500 it is meant to answer
            else:
                response.failure(f"expected the JSON 500, got {response.status_code}")


class SyncUser(ServerUser):
    host = os.environ.get("SYNC_URL", "http://127.0.0.1:8001")
    server = "sync"


class AsyncUser(ServerUser):
    host = os.environ.get("ASYNC_URL", "http://127.0.0.1:8002")
    server = "async"
