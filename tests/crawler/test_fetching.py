"""What the crawler records for each kind of target, how often it fetches, and within which limits."""

import asyncio
import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.farm import Farm, running_farm
from devtools.servers import RunningServer, free_port
from FastAPI.server import FetchError, Settings, StatusClient
from tests.crawler.service import crawler, results, submit, wait_ready
from tests.event_loop import run


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    limits = ("--per-host", "2", "--concurrency", "5")
    with crawler("--allow-private", "--connect-timeout", "0.5", "--read-timeout", "1", *limits) as running:
        yield running


def test_every_status_the_farm_gives(server: RunningServer, farm: Farm) -> None:
    codes = [*range(200, 600), 999]
    urls = [farm.url(f"/status/{code}", code % 3) for code in codes]
    assert results(server, urls) == codes


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listener accepts nothing and whose backlog is full: new connections get no answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.5", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        queued = []
        for _ in range(3):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.5", port))
            queued.append(client)
        try:
            yield port
        finally:
            for client in queued:
                client.close()


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port whose connections the kernel completes and nobody ever reads: a TLS handshake there stalls."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.6", 0))
        listener.listen(16)
        port: int = listener.getsockname()[1]
        yield port


def test_each_failure_has_its_label(server: RunningServer, farm: Farm, full_backlog: int, silent_listener: int) -> None:
    urls = {
        f"{farm.hosts[0]}:{free_port()}/": "error:connect",
        f"127.0.0.5:{full_backlog}/": "error:connect-timeout",
        f"https://127.0.0.6:{silent_listener}/": "error:connect-timeout",  # TLS stalled: never connected
        farm.url("/hang"): "error:timeout",
        farm.url("/garbage"): "error:invalid-response",
        farm.url("/close", 1): "error:invalid-response",
        farm.url("/status/200", 2).replace("http://", "https://"): "error:tls",
        "no-such-host.invalid/": "error:dns",
    }
    assert results(server, list(urls)) == list(urls.values())


def test_redirects_are_not_followed_and_bodies_not_read(server: RunningServer, farm: Farm) -> None:
    assert results(server, [farm.url("/redirect", 1), farm.url("/big", 1)]) == [302, 200]
    farm.wait_for(lambda: farm.cut_short["/big"] == 1, "the server hanging up on the 1 GiB body")
    assert farm.hits_of("/status/200", 1) == 0


def test_duplicates_in_a_task_and_across_tasks_are_fetched_once(server: RunningServer, farm: Farm) -> None:
    url = farm.url("/slow/0.5?shared", 2)
    first = submit(server, [url, url, url])
    second = submit(server, [farm.url("/status/201"), url])
    assert wait_ready(server, first)["result"] == [200, 200, 200]
    assert wait_ready(server, second)["result"] == [201, 200]
    assert farm.hits_of("/slow/0.5?shared", 2) == 1


def test_a_task_past_its_deadline_does_not_hold_up_others(farm: Farm) -> None:
    shared, tick = farm.url("/gate/deadline"), "/slow/1?deadline"
    with crawler("--allow-private", "--task-deadline", "3", "--read-timeout", "30") as server:
        first = submit(server, [shared, farm.url(tick)])
        # The second task asks while the shared fetch is held, a second after the first: it outlives the first.
        farm.wait_for(lambda: farm.answered[(farm.hosts[0], tick)] == 1, "the first task's other URL answered")
        second = submit(server, [shared])
        assert wait_ready(server, first)["result"] == ["error:deadline", 200]
        farm.open_gate("deadline")
        assert wait_ready(server, second)["result"] == [200]  # not error:deadline: it kept the shared fetch
    assert farm.hits_of("/gate/deadline") == 1


def test_global_and_per_host_limits_hold(server: RunningServer, farm: Farm) -> None:
    farm.peak.clear()
    farm.peak_total = 0
    task = submit(server, [farm.url(f"/gate/limits?{i}", i % 3) for i in range(18)])
    farm.wait_for(lambda: farm.active.total() == 5, "the server's fetches filling its limits")  # held at the gate
    farm.open_gate("limits")
    assert wait_ready(server, task)["result"] == [200] * 18
    assert max(farm.peak.values()) == 2  # --per-host 2
    assert farm.peak_total == 5  # --concurrency 5


def test_concurrent_tasks_each_get_their_own_order(server: RunningServer, farm: Farm) -> None:
    asked = {n: [200 + (n * 7 + i) % 300 for i in range(30)] for n in range(6)}
    got: dict[int, list[int | str]] = {}

    def one(n: int) -> None:
        got[n] = results(server, [farm.url(f"/status/{code}", n % 3) for code in asked[n]])

    threads = [threading.Thread(target=one, args=(n,)) for n in asked]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert got == asked


def test_a_waiting_get_answers_once_the_task_is_ready(farm: Farm) -> None:
    # A server of its own: this module's reads time out after a second, and this fetch is held at a gate.
    with crawler("--allow-private") as server, ThreadPoolExecutor(1) as asking:
        task_id = submit(server, [farm.url("/gate/wait")])
        task_url = f"{server.url}/api/v1/tasks/{task_id}"
        assert httpx.get(task_url, params={"wait": 0.01}).json()["status"] == "running"
        waiting = asking.submit(lambda: httpx.get(task_url, params={"wait": 20}, timeout=30).json())
        farm.open_gate("wait")
        waited = waiting.result()
        assert (waited["status"], waited["result"]) == ("ready", [200])
        for wait in ("-1", "31", "soon"):
            assert httpx.get(task_url, params={"wait": wait}).status_code == 422


def test_a_clean_connection_carries_the_next_get(server: RunningServer, farm: Farm) -> None:
    urls = [farm.url(f"/status/200?reuse={n}", 2) for n in range(4)]
    before = farm.connections
    for url in urls[:3]:  # one after another: the answer of each (no body) leaves its connection clean
        assert results(server, [url]) == [200]
    assert farm.connections - before <= 1
    farm.drop_connections()  # the target closes the idle connection, as servers do
    before = farm.connections
    assert results(server, [urls[3]]) == [200]  # not error:invalid-response: a fresh connection was made
    assert farm.connections - before == 1
    assert results(server, [farm.url("/big", 2), farm.url("/status/200?after-big", 2)]) == [200, 200]


def test_a_closed_client_drops_the_connections_it_kept() -> None:
    with running_farm(("127.0.0.5",)) as own:  # a farm of its own: no other test's connections on it

        async def fetch_then_close() -> None:
            client = StatusClient(Settings(allow_private=True))
            assert await client.status(own.url("/status/204?kept")) == 204
            own.wait_for(lambda: len(own.writers) == 1, "the connection kept for the next GET")
            client.close()

        run(fetch_then_close())
        own.wait_for(lambda: not own.writers, "the kept connection dropped")


async def status_of_answer(answer: bytes) -> int | str:
    """What the fetcher makes of a target that answers these bytes to its GET, then closes."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        writer.close()

    target = await asyncio.start_server(reply, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    client = StatusClient(Settings(allow_private=True, connect_timeout=2, read_timeout=2))
    try:
        return await client.status(f"http://127.0.0.1:{port}/")
    except FetchError as error:
        return error.label
    finally:
        target.close()


heads = st.builds(
    lambda code, reason, headers: f"HTTP/1.1 {code} {reason}\r\n{headers}\r\n".encode(),
    st.integers(100, 999),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
    st.lists(st.sampled_from(["Content-Length: 0\r\n", "X: y\r\n", "Transfer-Encoding: chunked\r\n"]), max_size=3).map(
        "".join
    ),
)


@pytest.mark.fuzz
@settings(max_examples=150, deadline=None)
@given(answer=st.binary(max_size=200) | heads | st.tuples(heads, st.binary(max_size=50)).map(b"".join))
def test_any_answer_is_a_code_or_a_label(answer: bytes) -> None:
    outcome = run(status_of_answer(answer))
    if isinstance(outcome, int):
        assert 100 <= outcome <= 999
        assert answer.startswith(b"HTTP/1.")
    else:
        assert outcome == "error:invalid-response", answer
    final = re.match(rb"HTTP/1\.1 (1(?!01)\d\d) [ -~]*\r\n(?:[^\r\n]*\r\n)*?\r\n", answer)
    if re.fullmatch(rb"HTTP/1\.1 ([0-9]{3}) [ -~]*\r\n(?:[!-9;-~]+: [ -~]*\r\n)*\r\n", answer) and final is None:
        assert outcome == int(answer[9:12])  # a well-formed final answer's own code
