"""What a route answers, independent of the server that sends it: the status, body and headers, the JSON error
format and the header every response carries."""

import json
from dataclasses import dataclass
from http import HTTPStatus


SERVED_BY = "X-Served-By"  # on every response, errors included: which of the two servers answered
MAX_BODY = 1024 * 1024  # bytes of request body either server reads; past it, 413
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, body, its media type and any further headers."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


class ApiError(Exception):
    """A request the service refuses, with the status and the one-line reason the client gets."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers

    def answer(self) -> Answer:
        return error_answer(self.status, self.message, self.headers)


def json_bytes(payload: object) -> bytes:
    """The one JSON encoding both servers send, so their bodies are byte for byte the same."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_answer(payload: object, status: int = 200) -> Answer:
    return Answer(status, json_bytes(payload))


def error_answer(status: int, message: str | None = None, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """The error format of both servers: `{"error": "..."}`, by default the status's reason phrase."""
    return Answer(status, json_bytes({"error": message or reason(status)}), JSON, headers)


def reason(status: int) -> str:
    """The reason phrase of a status code ("Not Found"), or "Unknown" for a code HTTP does not name."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
