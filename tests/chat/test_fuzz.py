"""Arbitrary frames and commands against live chat servers, alone and two sharing one Redis: they stay up
and the others still chat."""

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.chatters import Chatter
from devtools.redis_server import redis_server
from devtools.servers import RunningServer, chat_server
from tests.event_loop import run


commands = st.sampled_from(["page", "leave", "invite", "invite ", "invite 1", "invite Client 1", "invite -1"])
frames = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    commands,
    st.builds(lambda word, tail: f"{word} {tail}", st.sampled_from(["invite", "leave", "page"]), st.text(max_size=20)),
)


LIMITS = ("--rate", "200", "--burst", "400")


@pytest.fixture(scope="module", params=["alone", "sharing Redis"])
def servers(request: pytest.FixtureRequest) -> Iterator[list[RunningServer]]:
    """One server (the fuzzer and both others on it), or two on one Redis (the last client on the second)."""
    if request.param == "alone":
        with chat_server(*LIMITS) as alone:
            yield [alone, alone]
        return
    with redis_server() as redis:
        shared = ("--redis", redis.url, *LIMITS)
        with chat_server(*shared) as first, chat_server(*shared) as second:
            yield [first, second]


@pytest.mark.fuzz
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_any_frames_leave_the_servers_up_and_the_room_chatting(
    servers: list[RunningServer], batch: list[str | bytes]
) -> None:
    first, second = servers

    async def scenario() -> None:
        async with Chatter(first.port) as fuzzer, Chatter(first.port) as one, Chatter(second.port) as two:
            for frame in batch:
                await fuzzer.send(frame)
            await fuzzer.send("leave")
            await one.send("leave")
            await one.send("canary")
            await two.expect(lambda line: line.endswith(f"{one.name}: canary"))
            assert first.process.poll() is None
            assert second.process.poll() is None

    run(scenario())
