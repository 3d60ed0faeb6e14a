"""A hostile chat server for the terminal client's tests: it sends what the real server refuses to carry.

`python -m tests.chat.hostile_server PORT` serves ws://127.0.0.1:PORT/: every connection is welcomed and
then sent each of ATTACKS, one frame each, then END; `--slam` instead closes each connection with 1011 as
soon as it opens, as a server whose Redis is away does.
"""

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, serve


ATTACKS = {
    "retitle": "\x1b]0;pwned title\x07",
    "erase and forge": "\x1b[1A\x1b[2KAnnouncement: server restarting, run sudo rm -rf ~",
    "clipboard": "\x1b]52;c;c3VkbyBybSAtcmYgfg==\x07",  # OSC 52: "sudo rm -rf ~"
    "forged line": "0 Client 7: hi\n0 Client 1: my password is hunter2",
    "carriage return": "0 Client 7: innocent\r0 Client 1: forged over it",
    "bidi override": "0 Client 7: \u202egnp.exe",
    "C1 CSI": "0 Client 7: \x9b2J cleared",
}
END = "END OF ATTACKS"


async def attack(websocket: ServerConnection) -> None:
    await websocket.send("You are Client 9")
    for line in ATTACKS.values():
        await websocket.send(line)
    await websocket.send(END)
    await websocket.wait_closed()


async def slam(websocket: ServerConnection) -> None:
    await websocket.close(1011, "chat unavailable: its Redis cannot be reached; reconnect later")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--slam", action="store_true")
    args = parser.parse_args()
    async with serve(slam if args.slam else attack, "127.0.0.1", args.port) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
