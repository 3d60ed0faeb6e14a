"""A local stand-in for open-meteo's forecast and geocoding APIs, so that tests, the benchmark and the stress run
never reach the real ones: the documented answer shapes, failures on demand, and a count of the calls it got.

Its behaviour is one of MODES, for every request or for the next few (`script`): ok (the documented 200), slow
(the same, half a second late), refuse (400 `{"error": true, "reason": ...}`), rate-limit (429 with Retry-After),
fail (500), hang (no answer until released or stopped), malformed (a 200 whose JSON is cut short).

    python SyncAsync/fake_open_meteo.py [--port P]   # then OPEN_METEO_URL=OPEN_METEO_GEOCODING_URL=http://127.0.0.1:P
"""

import argparse
import collections
import contextlib
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit


Mode = Literal["ok", "slow", "refuse", "rate-limit", "fail", "hang", "malformed"]
MODES: tuple[Mode, ...] = ("ok", "slow", "refuse", "rate-limit", "fail", "hang", "malformed")
SLOW = 0.5  # seconds a slow answer takes
HANG_LIMIT = 60.0  # seconds a hanging answer waits at most, so that no thread outlives a forgotten test
CITIES = {
    "berlin": {"name": "Berlin", "latitude": 52.52437, "longitude": 13.41053, "country": "Germany"},
    "london": {"name": "London", "latitude": 51.50853, "longitude": -0.12574, "country": "United Kingdom"},
    "tokyo": {"name": "Tokyo", "latitude": 35.6895, "longitude": 139.69171, "country": "Japan"},
}
UNITS = {
    "time": "iso8601",
    "interval": "seconds",
    "temperature_2m": "°C",
    "relative_humidity_2m": "%",
    "wind_speed_10m": "km/h",
    "weather_code": "wmo code",
}


class FakeOpenMeteo:
    """The fake's state: its mode, a script of modes for the next requests, and the hits per API path."""

    def __init__(self) -> None:
        self.mode: Mode = "ok"
        self._script: collections.deque[Mode] = collections.deque()
        self._hits: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.released = threading.Event()  # set: hanging answers give up and close

    def script(self, *modes: Mode) -> None:
        """Behave as these modes for the next requests, one each, then as `mode` again."""
        with self._lock:
            self._script.extend(modes)

    def hits(self, path: str = "") -> int:
        """Requests received on a path (`/v1/forecast`, `/v1/search`), or on all with no path."""
        with self._lock:
            return self._hits[path] if path else sum(self._hits.values())

    def take(self, path: str) -> Mode:
        with self._lock:
            self._hits[path] += 1
            return self._script.popleft() if self._script else self.mode

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]] | None:
        """(status, body, headers) for a request, or None to hang."""
        mode = self.take(path)
        if mode == "hang":
            self.released.wait(HANG_LIMIT)
            return None
        if mode == "slow":
            self.released.wait(SLOW)
        if mode == "rate-limit":
            return 429, json.dumps({"error": True, "reason": "Too many requests"}).encode(), {"Retry-After": "30"}
        if mode == "fail":
            return 500, b"<html>Internal Server Error</html>", {"Content-Type": "text/html"}
        if mode == "refuse":
            return 400, json.dumps({"error": True, "reason": "Cannot initialize WeatherVariable"}).encode(), {}
        if path == "/v1/forecast":
            status, payload = forecast(query)
        elif path == "/v1/search":
            status, payload = 200, geocoding(query)
        else:
            status, payload = 404, {"error": True, "reason": "Not Found"}
        body = json.dumps(payload).encode()
        return status, body[: len(body) // 2] if mode == "malformed" else body, {}


def forecast(query: dict[str, list[str]]) -> tuple[int, dict[str, object]]:
    """The forecast API's answer: 400 with a reason for coordinates it refuses, else the current weather."""
    try:
        latitude, longitude = float(query["latitude"][0]), float(query["longitude"][0])
    except (KeyError, ValueError):
        return 400, {"error": True, "reason": "Parameter 'latitude' and 'longitude' must have the same number"}
    if not -90 <= latitude <= 90:
        return 400, {"error": True, "reason": f"Latitude must be in range of -90 to 90°. Given: {latitude}."}
    if not -180 <= longitude <= 180:
        return 400, {"error": True, "reason": f"Longitude must be in range of -180 to 180°. Given: {longitude}."}
    current = {
        "time": "2026-12-07T12:00",
        "interval": 900,
        "temperature_2m": round(15 - abs(latitude) / 4, 1),
        "relative_humidity_2m": 70,
        "wind_speed_10m": round(abs(longitude) % 30, 1),
        "weather_code": 3,
    }
    return 200, {
        "latitude": latitude,
        "longitude": longitude,
        "generationtime_ms": 0.03,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 38.0,
        "current_units": UNITS,
        "current": current,
    }


def geocoding(query: dict[str, list[str]]) -> dict[str, object]:
    """The geocoding API's answer: `results` only when a place matched."""
    name = query.get("name", [""])[0].strip().casefold()
    if name not in CITIES:
        return {"generationtime_ms": 0.4}
    return {"results": [{"id": 1, **CITIES[name], "timezone": "Europe/Berlin"}], "generationtime_ms": 0.4}


class Handler(BaseHTTPRequestHandler):
    server: "FakeServer"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the head and the body go in two writes

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        answer = self.server.fake.answer(parts.path, parse_qs(parts.query))
        if answer is None:
            self.close_connection = True
            return
        status, body, headers = answer
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json; charset=utf-8"))
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the base class's name
        pass  # the servers under test log; the fake is quiet


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, fake: FakeOpenMeteo | None = None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.fake = fake or FakeOpenMeteo()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def running_fake() -> Iterator[FakeServer]:
    """The fake on a free loopback port, served from a thread until the block ends."""
    server = FakeServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.fake.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description="A local stand-in for open-meteo's forecast and geocoding APIs.")
    arguments.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    arguments.add_argument("--mode", choices=MODES, default="ok", help="how to answer (default ok)")
    options = arguments.parse_args(argv)
    server = FakeServer(options.port)
    server.fake.mode = options.mode
    print(f"fake open-meteo on {server.url}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
