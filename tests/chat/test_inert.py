"""Every class of code point through the server and through the terminal client: no control or bidi
character reaches another client's frame or the screen, and the sender is told which one was refused."""

import asyncio
import json
import unicodedata
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.internal.charmap import CategoryName
from websockets.asyncio.server import ServerConnection, serve

from devtools.chatters import Chatter
from devtools.servers import RunningServer, chat_server
from tests.event_loop import run
from WebSocket.client import Chat


# Every general category, so that each class of code point is drawn, and the characters a terminal acts on
# drawn often: C0 (ESC, CR, LF, tab), DEL, C1 (CSI), bidi embeddings, overrides and isolates, separators.
CATEGORIES: list[CategoryName] = [
    "Lu",
    "Ll",
    "Lo",
    "Mn",
    "Nd",
    "Pc",
    "Po",
    "Sm",
    "So",
    "Zs",
    "Zl",
    "Zp",
    "Cc",
    "Cf",
    "Co",
    "Cn",
]
TERMINAL = "\x1b\r\n\t\x07\x00\x7f\x9b\x9d\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
characters = st.one_of(
    st.sampled_from(TERMINAL), *(st.characters(categories=[category], codec="utf-8") for category in CATEGORIES)
)
texts = st.text(characters, min_size=1, max_size=40)
COMMANDS = {"page", "leave", "invite"}
END = "end of the example"


def forbidden(character: str) -> bool:
    """What must never reach a peer or the screen alive (the test's own list, from the issue)."""
    point = ord(character)
    return (
        unicodedata.category(character) in {"Cc", "Cs"}
        or 0x202A <= point <= 0x202E
        or 0x2066 <= point <= 0x2069
        or point in {0x2028, 0x2029}
    )


def first_forbidden(text: str) -> str | None:
    return next((character for character in text.replace("\t", " ") if forbidden(character)), None)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with chat_server("--rate", "10000", "--burst", "10000") as running:
        yield running


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_messages_carry_no_control_or_bidi_character_to_peers(server: RunningServer, batch: list[str]) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as sender, Chatter(server.port) as receiver:
            for text in batch:
                await sender.send(text)
            await sender.send(END)
            await receiver.expect(lambda line: line.endswith(f"{sender.name}: {END}"))
            for line in receiver.seen:
                assert first_forbidden(line) is None, f"{line!r} reached a peer"
            for text in batch:
                character = first_forbidden(text)
                cleaned = text.replace("\t", " ")
                if character is not None:
                    refusal = await sender.expect(lambda line: line.startswith("Message refused: "))
                    assert refusal.startswith(f"Message refused: it contains U+{ord(character):04X}")
                elif cleaned.strip() and cleaned.strip().partition(" ")[0] not in COMMANDS:
                    assert any(line.endswith(f"{sender.name}: {cleaned}") for line in receiver.seen)

    run(scenario())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(texts, st.text(st.characters(categories=["Cs", "Lu"]), min_size=1, max_size=8)))
@example(text="\ud800\udc00")  # a surrogate pair in the JSON: U+10000 to the server, not two lone surrogates
def test_announcements_carry_no_control_or_bidi_character(server: RunningServer, text: str) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as receiver, httpx.AsyncClient(base_url=server.url) as rest:
            body = json.dumps({"text": text})  # ASCII: a lone surrogate travels as a \\udxxx escape
            response = await rest.post(
                "/api/v1/announcements", content=body, headers={"content-type": "application/json"}
            )
            # What the server parses: an escaped surrogate pair is one character, a lone surrogate stays one.
            received = json.loads(body)["text"]
            character = first_forbidden(received)
            if character is not None:
                assert response.status_code == 422
                message = response.json()["detail"][0]["msg"]
                if unicodedata.category(character) == "Cs":  # pydantic refuses it first: not a string at all
                    assert "unicode string" in message
                else:
                    assert f"U+{ord(character):04X}" in message
            elif not received.strip():
                assert response.status_code == 422
            else:
                assert response.status_code == 202
                await receiver.expect(f"Announcement: {received.replace(chr(9), ' ')}")
            await rest.post("/api/v1/announcements", json={"text": END})
            await receiver.expect(f"Announcement: {END}")
            for line in receiver.seen:
                assert first_forbidden(line) is None, f"{line!r} reached a client"

    run(scenario())


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(texts, min_size=1, max_size=6))
def test_the_terminal_client_shows_whatever_arrives_escaped(lines: list[str]) -> None:
    """The client's own screen, fed by a server that sends anything."""
    shown: list[str] = []

    async def hostile(websocket: ServerConnection) -> None:
        for line in [*lines, END]:
            await websocket.send(line)
        await websocket.wait_closed()

    async def scenario() -> None:
        async with serve(hostile, "127.0.0.1", 0) as hostile_server:
            port = hostile_server.sockets[0].getsockname()[1]
            chat = Chat(f"ws://127.0.0.1:{port}/", shown.append)
            listener = asyncio.create_task(chat.listen())
            try:
                while END not in shown:
                    await asyncio.sleep(0.005)
            finally:
                listener.cancel()
                await chat.rest.aclose()

    run(asyncio.wait_for(scenario(), 15))
    for line, printed in zip(lines, shown, strict=False):
        assert first_forbidden(printed) is None, f"{printed!r} reached the screen"
        if first_forbidden(line) is None and "\t" not in line:
            assert printed == line  # nothing harmless is changed
