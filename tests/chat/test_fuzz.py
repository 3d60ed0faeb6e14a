"""Arbitrary frames and commands against a live chat server: it stays up and the others still chat."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chat.chatters import Chatter
from tests.event_loop import run
from tests.servers import RunningServer


commands = st.sampled_from(["page", "leave", "invite", "invite ", "invite 1", "invite Client 1", "invite -1"])
frames = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    commands,
    st.builds(lambda word, tail: f"{word} {tail}", st.sampled_from(["invite", "leave", "page"]), st.text(max_size=20)),
)


@pytest.mark.fuzz
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_any_frames_leave_the_server_up_and_the_room_chatting(server: RunningServer, batch: list[str | bytes]) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as fuzzer, Chatter(server.port) as one, Chatter(server.port) as two:
            for frame in batch:
                await fuzzer.send(frame)
            await fuzzer.send("leave")
            await one.send("leave")
            await one.send("canary")
            await two.expect(lambda line: line.endswith(f"{one.name}: canary"))
            assert server.process.poll() is None

    run(scenario())
