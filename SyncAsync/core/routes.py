"""The routes both servers serve, and what each answers; the servers only wait (sleep, await, a pool) and move bytes.

| route        | methods   | answers                                                                 |
|--------------|-----------|-------------------------------------------------------------------------|
| /hello       | GET, HEAD | `Hello, World!` as plain text                                           |
| /echo        | POST      | the JSON body as JSON, a form's fields as an object; else 415           |
| /weather     | GET, HEAD | `?latitude=&longitude=` or `?city=`: the current weather from open-meteo |
| /io_task     | GET, HEAD | waits `?seconds=` (default 0.1, at most 10) without using a CPU         |
| /cpu_task    | GET, HEAD | sums the squares below `?n=` (default 300000, at most 10000000)         |
| /error_task  | GET, HEAD | fails on purpose: the 500 every unexpected failure gets                 |
"""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from SyncAsync.core.answers import TEXT, Answer, json_answer, json_bytes
from SyncAsync.core.weather import WeatherReport


GET = ("GET", "HEAD")
ROUTES: dict[str, tuple[str, ...]] = {
    "/hello": GET,
    "/echo": ("POST",),
    "/weather": GET,
    "/io_task": GET,
    "/cpu_task": GET,
    "/error_task": GET,
}
HELLO = Answer(200, b"Hello, World!", TEXT)
MAX_IO_SECONDS = 10.0
MAX_CPU_N = 10_000_000


class IoTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    seconds: Annotated[float, Field(ge=0, le=MAX_IO_SECONDS, allow_inf_nan=False)] = 0.1


class CpuTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: Annotated[int, Field(ge=0, le=MAX_CPU_N)] = 300_000


class SimulatedError(RuntimeError):
    """What /error_task raises: an unexpected failure inside a handler, on purpose."""


def allowed(path: str) -> tuple[str, ...] | None:
    """The methods a path takes, or None for a path that is not served."""
    return ROUTES.get(path)


def echo_answer(value: JsonValue) -> Answer:
    return json_answer(value)


def weather_answer(report: WeatherReport) -> Answer:
    return Answer(200, json_bytes(report.model_dump(mode="json")))


def io_task_answer(task: IoTask) -> Answer:
    return json_answer({"slept": task.seconds})


def cpu_task_answer(task: CpuTask, result: int) -> Answer:
    return json_answer({"n": task.n, "sum_of_squares": result})


def error_task() -> Answer:
    raise SimulatedError("/error_task fails on purpose")
