"""The chatroom over real sockets: messages, stamps, names, notices, the pager and private chats."""

import asyncio
import time

from devtools.chatters import Chatter, said
from devtools.servers import RunningServer
from tests.event_loop import run


def test_a_message_reaches_the_others_but_not_the_sender(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as one, Chatter(server.port) as two, Chatter(server.port) as three:
            await one.send("pizza later?")
            assert said(one.name, "pizza later?")(await two.expect(lambda line: "pizza" in line))
            assert said(one.name, "pizza later?")(await three.expect(lambda line: "pizza" in line))
            await two.send("sure")
            # Lines arrive in order, so had the sender got its own message back it would come before this one.
            assert said(two.name, "sure")(await one.expect(lambda line: ": " in line))

    run(scenario())


def test_stamps_count_seconds_since_the_sender_connected(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as listener, Chatter(server.port) as talker:
            connected = time.monotonic()
            await asyncio.sleep(1.2)  # time has to pass for the stamp to count it
            await talker.send("or maybe pasta")
            line = await listener.expect(lambda line: "pasta" in line)
            elapsed = time.monotonic() - connected
            stamp = int(line.split(" ", 1)[0])
            assert 1 <= stamp <= int(elapsed) + 1
            assert line.endswith(f"{talker.name}: or maybe pasta")

    run(scenario())


def test_names_are_never_reused_and_the_room_hears_of_comings_and_goings(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as watcher:
            async with Chatter(server.port) as first:
                assert await watcher.expect(lambda line: line.endswith(" connected")) == f"{first.name} connected"
            assert await watcher.expect(lambda line: line.endswith(" left")) == f"{first.name} left"
            async with Chatter(server.port) as again:
                assert int(again.number) > int(first.number)
                await watcher.expect(f"{again.name} connected")

    run(scenario())


def test_the_pager_pages_everyone_else_each_second_until_another_types(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as pager, Chatter(server.port) as other:
            await pager.send("page")
            await other.expect("PAGING")
            first = time.monotonic()
            await pager.send("still here")
            assert await other.expect(lambda line: "still here" in line)
            await other.expect("PAGING")
            interval = time.monotonic() - first
            assert 0.6 <= interval <= 1.8
            await other.send("stop it")
            # Once the pager sees it, the stop has been applied: the marker cannot overtake it.
            await pager.expect(lambda line: line.endswith(f"{other.name}: stop it"))
            await pager.send("marker")
            await other.expect(lambda line: line.endswith(": marker"))
            await asyncio.sleep(1.5)  # a page would be due within this second and a half
            await pager.send("after")
            assert (await other.recv()).endswith(": after")
            assert "PAGING" not in pager.seen

    run(scenario())


def test_paging_stops_when_the_pager_leaves(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as other, Chatter(server.port) as bystander:
            async with Chatter(server.port) as pager:
                await pager.send("page")
                await other.expect("PAGING")
            await other.expect(f"{pager.name} left")
            await asyncio.sleep(1.5)
            await bystander.send("quiet?")
            assert (await other.recv()).endswith(": quiet?")

    run(scenario())


def test_invite_pairs_two_clients_who_alone_see_each_other(server: RunningServer) -> None:
    async def scenario() -> None:
        async with (
            Chatter(server.port) as one,
            Chatter(server.port) as two,
            Chatter(server.port) as three,
            Chatter(server.port) as witness,
        ):
            await one.send(f"invite {two.number}")
            assert await two.expect(lambda line: line.startswith("Private")) == f"Private chatting with {one.name}"
            assert await one.expect(lambda line: line.startswith("Private")) == f"Private chatting with {two.name}"
            await two.send("secret")
            assert said(two.name, "secret")(await one.expect(lambda line: ": " in line))
            await three.send("public")
            # Two sockets, no order between them: the leave must wait until the room has the line.
            await witness.expect(lambda line: line.endswith(f"{three.name}: public"))
            await one.send("leave")
            assert await one.expect(lambda line: line.startswith("Private")) == "Private chat ended."
            assert await two.expect(lambda line: line.startswith("Private")) == "Private chat ended."
            await two.send("back")
            assert said(two.name, "back")(await three.expect(lambda line: ": " in line))
            await two.send(f"invite {three.name}")
            assert await three.expect(lambda line: line.startswith("Private")) == f"Private chatting with {two.name}"
            # The private pair and the room never saw each other's messages.
            assert not any("secret" in line for line in three.seen)
            assert not any("public" in line for line in one.seen + two.seen)

    run(scenario())


def test_commands_that_cannot_be_done_say_why(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as one, Chatter(server.port) as two, Chatter(server.port) as three:
            await one.send("invite 999999")
            await one.expect("No such client: Client 999999")
            await one.send(f"invite {one.number}")
            await one.expect("You cannot invite yourself")
            await one.send("leave")
            await one.expect("You are not in a private chat")
            await one.send(f"invite {two.name}")
            await two.expect(f"Private chatting with {one.name}")
            await three.send(f"invite {two.number}")
            assert await three.expect(lambda line: "already" in line) == f"{two.name} is already in a private chat"
            await one.expect(f"Private chatting with {two.name}")
            await one.send(f"invite {three.number}")
            await one.expect(f"You are already in a private chat with {two.name}")

    run(scenario())


def test_a_partner_who_disconnects_drops_the_other_back_into_the_room(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as stays, Chatter(server.port) as room:
            async with Chatter(server.port) as goes:
                await goes.send(f"invite {stays.number}")
                await stays.expect(f"Private chatting with {goes.name}")
            assert await stays.expect(lambda line: goes.name in line) == f"{goes.name} left; private chat ended."
            await stays.send("back in the room")
            assert said(stays.name, "back in the room")(await room.expect(lambda line: ": " in line))

    run(scenario())
