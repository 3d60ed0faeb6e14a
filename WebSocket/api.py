"""The chat's REST side under /api/v1: who is connected, and announcements to everyone.

Bodies are bounded: past the cap the answer is 413, from the Content-Length before any byte of the body is
read, or from the count of what has arrived when there is none. Errors quote at most a short, visible
excerpt of what was sent. The API's own pages (/docs, /redoc, /openapi.json) are not served: the two routes
are described in docs/chat.md, and the pages would load their scripts from a third-party site.
"""

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from starlette.exceptions import HTTPException

from WebSocket.room import Room
from WebSocket.text import MAX_TEXT, describe, excerpt, first_forbidden


MAX_BODY = 64 * 1024  # bytes in one REST request's body
SHUTDOWN_CLOSE = (1001, "server shutting down")

Receive = Callable[[], Awaitable[dict[str, Any]]]


class ConnectedClient(BaseModel):
    name: str
    connected_at: datetime
    connected_for: int = Field(description="whole seconds since the client connected")


class ClientList(BaseModel):
    clients: list[ConnectedClient]


class Announcement(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)

    @field_validator("text")
    @classmethod
    def inert(cls, text: str) -> str:
        """Refuse what a terminal would act on; a tab is a space."""
        text = text.replace("\t", " ")
        if (character := first_forbidden(text)) is not None:
            raise ValueError(f"contains {describe(character)}, which the chat does not carry")
        if not text.strip():
            raise ValueError("is blank")
        return text


class AnnouncementAccepted(BaseModel):
    status: str = "accepted"
    recipients: int


def too_large(cap: int) -> HTTPException:
    return HTTPException(413, f"The body is over {cap:,} bytes.")


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request's Content-Length, or None when it has none (or a malformed one, which h11 refuses)."""
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def bounded(receive: Receive, cap: int) -> Receive:
    """`receive` that answers 413 once more than `cap` bytes of body have arrived."""
    received = 0

    async def receive_bounded() -> dict[str, Any]:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise too_large(cap)
        return message

    return receive_bounded


async def refuse_invalid(_: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, with each error's input cut to a short, visible excerpt."""
    assert isinstance(error, RequestValidationError)
    details = []
    for problem in error.errors():
        shown = {key: value for key, value in problem.items() if key not in {"input", "ctx", "url"}}
        if isinstance(problem.get("input"), str):
            shown["input"] = excerpt(problem["input"])
        details.append(shown)
    return JSONResponse({"detail": jsonable_encoder(details)}, status_code=422)


def create_api(room: Room, unavailable: tuple[int, str]) -> FastAPI:
    """The REST side; its lifespan opens the room's directory before serving and closes it after."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await room.directory.open()
        try:
            yield
        finally:
            await room.close_all(*SHUTDOWN_CLOSE)
            await room.directory.close()

    api = FastAPI(title="Chat service", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    api.add_exception_handler(RequestValidationError, refuse_invalid)

    async def refuse_unavailable(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"{unavailable[1]} ({type(error).__name__})"}, status_code=503)

    for failure in room.failures:
        api.add_exception_handler(failure, refuse_unavailable)

    @api.get("/api/v1/clients")
    async def clients() -> ClientList:
        now = time.time()
        return ClientList(
            clients=[
                ConnectedClient(
                    name=name,
                    connected_at=datetime.fromtimestamp(since, timezone.utc),
                    connected_for=max(0, int(now - since)),
                )
                for name, since in await room.roster()
            ]
        )

    @api.post("/api/v1/announcements", status_code=202)
    async def announcements(announcement: Announcement) -> AnnouncementAccepted:
        return AnnouncementAccepted(recipients=await room.announce(announcement.text))

    return api
