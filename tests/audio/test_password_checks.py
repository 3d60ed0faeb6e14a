"""Password checks: remembered once verified, queued fairly for their slots, failures backed off, never locked out."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library import create_app
from audio_library.access import auth, check_queue
from audio_library.access.auth import HOLD_ANSWER_KEY, Credentials, Users
from audio_library.access.check_queue import BACKOFF_FIRST, BACKOFF_MOST, Backoff, CheckQueue, ChecksBusyError
from audio_library.web.current_library import get_library
from flask import Flask
from werkzeug.security import check_password_hash

from devtools.servers import audio_server
from tests.polling import wait_until
from tests.users_files import quick_hash, write_users_file


HERE = "127.0.0.1"
WAIT = 10.0  # seconds a test waits for a thread it started; never reached when all is well


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords key derivations are run for, in order."""
    derived: list[str] = []

    def counting_check(password_hash: str, password: str) -> bool:
        derived.append(password)
        return check_password_hash(password_hash, password)

    monkeypatch.setattr(auth, "check_password_hash", counting_check)
    return derived


def test_verified_credentials_skip_the_key_derivation_and_the_cache_is_bounded(
    monkeypatch: pytest.MonkeyPatch, derivations: list[str]
) -> None:
    monkeypatch.setattr(auth, "CACHE_SIZE", 1)
    users = Users({"alice": quick_hash("pw"), "bob": quick_hash("pw")})
    assert users.verify(Credentials("alice", "pw"), HERE).verified
    assert users.verify(Credentials("alice", "pw"), HERE).verified
    assert len(derivations) == 1
    assert users.verify(Credentials("bob", "pw"), HERE).verified  # remembered in alice's place
    assert users.verify(Credentials("alice", "pw"), HERE).verified
    assert len(derivations) == 3
    assert not users.verify(Credentials("mallory", "pw"), HERE).verified  # an unknown name costs a derivation too
    assert derivations == ["pw", "pw", "pw", "pw"]


def test_refused_credentials_sent_again_are_refused_without_a_derivation_and_still_held(
    monkeypatch: pytest.MonkeyPatch, derivations: list[str]
) -> None:
    monkeypatch.setattr(auth, "REFUSED_CACHE_SIZE", 2)
    users = Users({"alice": quick_hash("pw")})
    verdicts = [users.verify(Credentials("alice", "wrong"), HERE) for _ in range(3)]
    assert not any(verdict.verified for verdict in verdicts)
    assert [verdict.hold for verdict in verdicts] == pytest.approx([BACKOFF_FIRST * 2**n for n in range(3)], rel=0.01)
    assert derivations == ["wrong"]  # a flood repeating a wrong password costs one derivation, and no turn
    for password in ["guess 1", "guess 2"]:  # two newer refusals push the first out
        assert not users.verify(Credentials("alice", password), HERE).verified
    assert not users.verify(Credentials("alice", "wrong"), HERE).verified
    assert not users.verify(Credentials("mallory", "wrong"), HERE).verified  # the name is part of what is kept
    assert users.verify(Credentials("alice", "pw"), HERE) == (True, 0.0)
    assert derivations == ["wrong", "guess 1", "guess 2", "wrong", "wrong", "pw"]


def test_failures_hold_their_answers_longer_and_longer_but_never_the_right_password() -> None:
    users = Users({"alice": quick_hash("pw")})
    holds = [users.verify(Credentials("alice", f"guess {n}"), HERE).hold for n in range(8)]
    assert holds[0] == BACKOFF_FIRST
    assert holds == sorted(holds)
    assert holds[-1] == BACKOFF_MOST
    assert users.verify(Credentials("alice", "pw"), HERE) == (True, 0.0)


def test_the_back_off_counts_per_client_and_per_name() -> None:
    backoff = Backoff()
    for _ in range(4):
        backoff.failed("192.0.2.1", "alice")
    # A new client trying alice, and the flooding client trying a new name, are both held as long as alice's
    # and the client's failures say; a new client with a new name only as long as a first failure.
    assert backoff.failed("192.0.2.2", "alice") == pytest.approx(BACKOFF_FIRST * 2**4, rel=0.01)
    assert backoff.failed("192.0.2.1", "bob") == pytest.approx(BACKOFF_FIRST * 2**4, rel=0.01)
    assert backoff.failed("192.0.2.3", "carol") == BACKOFF_FIRST


def test_scores_decay_and_their_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(check_queue, "MAX_SCORES", 4)
    backoff = Backoff(clock=lambda: now[0])
    for _ in range(3):
        backoff.failed("192.0.2.1", "alice")
    now[0] += 2 * check_queue.SCORE_HALF_LIFE  # three failures, two half-lives ago: 0.75 of a failure
    assert backoff.failed("192.0.2.1", "alice") == pytest.approx(BACKOFF_FIRST * 2**0.75)
    for n in range(4):  # four newer keys push the oldest out
        backoff.failed(f"192.0.2.{10 + n}", f"name {n}")
    assert backoff.failed("192.0.2.1", "alice") == BACKOFF_FIRST


class Gate:
    """A check that blocks until released, and says when it has started."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()


def hold_turn(queue: CheckQueue, client: str, gate: Gate, order: list[str], label: str) -> threading.Thread:
    """A thread that takes `client`'s turn, notes `label` in `order` when it starts, and holds the slot until
    the gate is released."""

    def take_turn() -> None:
        with queue.turn(client, max_wait=WAIT):
            order.append(label)
            gate.started.set()
            assert gate.release.wait(WAIT)

    thread = threading.Thread(target=take_turn)
    thread.start()
    return thread


def waiting(queue: CheckQueue) -> int:
    return len(queue._waiting)


@pytest.fixture
def gates() -> Iterator[list[Gate]]:
    made = [Gate() for _ in range(4)]
    yield made
    for gate in made:
        gate.release.set()


def order_of_checks(gates: list[Gate], checks: list[tuple[str, str]]) -> list[str]:
    """The order in which these checks, (client, label), start on a queue with one slot: the first holds it
    while the others queue, one after the other, then all are let go."""
    queue = CheckQueue(slots=1)
    order: list[str] = []
    (client, label), *queued = checks
    threads = [hold_turn(queue, client, gates[0], order, label)]
    assert gates[0].started.wait(WAIT)
    for number, (client, label) in enumerate(queued, start=1):
        threads.append(hold_turn(queue, client, gates[number], order, label))
        wait_until(lambda number=number: waiting(queue) == number, f"{number} checks waiting")  # type: ignore[misc]
    for gate in gates:
        gate.release.set()
    for thread in threads:
        thread.join(WAIT)
    return order


def test_clients_take_their_turns_in_order_of_arrival(gates: list[Gate]) -> None:
    checks = [(f"192.0.2.{number}", label) for number, label in enumerate(["first", "second", "third", "fourth"])]
    assert order_of_checks(gates, checks) == ["first", "second", "third", "fourth"]


def test_a_client_has_one_check_running_and_others_pass_its_queue(gates: list[Gate]) -> None:
    queue = CheckQueue(slots=2)
    order: list[str] = []
    flooder = "192.0.2.1"
    threads = [hold_turn(queue, flooder, gates[0], order, "flood 1")]
    assert gates[0].started.wait(WAIT)
    threads.append(hold_turn(queue, flooder, gates[1], order, "flood 2"))
    wait_until(lambda: waiting(queue) == 1, "the flooder's second check waiting")
    threads.append(hold_turn(queue, "192.0.2.2", gates[2], order, "user"))
    assert gates[2].started.wait(WAIT)  # the second slot goes to the other client, past the flooder's queue
    assert not gates[1].started.is_set()
    gates[0].release.set()
    assert gates[1].started.wait(WAIT)
    for gate in gates:
        gate.release.set()
    for thread in threads:
        thread.join(WAIT)
    assert order == ["flood 1", "user", "flood 2"]


def test_a_clients_own_checks_are_taken_newest_first(gates: list[Gate]) -> None:
    # The first seconds of a flood from the user's own address: the flood's burst of checks is waiting when the
    # user's right password comes, and the user's is checked next, not after the whole burst.
    checks = [("192.0.2.1", label) for label in ["flood 1", "flood 2", "flood 3", "user"]]
    assert order_of_checks(gates, checks) == ["flood 1", "user", "flood 3", "flood 2"]


def test_a_check_that_waits_too_long_is_refused_and_leaves_the_queue(gates: list[Gate]) -> None:
    queue = CheckQueue(slots=1)
    thread = hold_turn(queue, "192.0.2.1", gates[0], [], "first")
    assert gates[0].started.wait(WAIT)
    with pytest.raises(ChecksBusyError), queue.turn("192.0.2.2", max_wait=0.05):
        pass
    assert waiting(queue) == 0
    gates[0].release.set()
    thread.join(WAIT)
    with queue.turn("192.0.2.2", max_wait=WAIT):
        pass


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    users_file = tmp_path / "users"
    users_file.write_text(f"alice:{quick_hash('pw')}\n")
    app = create_app({"TESTING": True, "LIBRARY_DIR": tmp_path / "library", "USERS_FILE": users_file})
    yield app
    get_library(app).close()


def test_a_wrong_password_has_its_answer_held_through_the_server(app: Flask) -> None:
    holds: list[float] = []
    client = app.test_client()
    for password in ["one", "two", "pw"]:
        hold = {HOLD_ANSWER_KEY: holds.append}
        response = client.delete("/api/files/x.wav", auth=("alice", password), environ_overrides=hold)
        assert response.status_code == (404 if password == "pw" else 401)
    assert holds == [
        BACKOFF_FIRST,
        pytest.approx(2 * BACKOFF_FIRST, rel=0.01),
    ]  # and the right password's answer not at all


def test_a_check_with_no_slot_in_time_is_a_503_with_retry_after(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(self: Users, credentials: Credentials, client: str) -> auth.Verdict:
        raise ChecksBusyError

    monkeypatch.setattr(Users, "verify", busy)
    response = app.test_client().delete("/api/files/x.wav", auth=("alice", "pw"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json == {"error": "The server is busy checking other passwords: try again in a second."}


def test_a_live_server_holds_wrong_answers_longer_each_time_but_lets_the_right_password_in(tmp_path: Path) -> None:
    users_file = write_users_file(tmp_path / "users", {"alice": "pw"})
    with audio_server(tmp_path / "library", "--users", str(users_file), "--private") as server:
        with requests.Session() as session:  # one kept-alive connection: the hold is on its answer
            took = []
            for password in ["one", "two", "three"]:
                started = time.monotonic()
                assert session.get(f"{server.url}/api/files", auth=("alice", password), timeout=30).status_code == 401
                took.append(time.monotonic() - started)
            response = session.get(f"{server.url}/api/files", auth=("alice", "pw"), timeout=30)
        assert response.status_code == 200
    # Lower bounds only: a held answer cannot come early, however loaded the machine. Failures fade (a score
    # halving every minute), so the second and third are held a little less than twice and four times as long.
    assert took[0] >= BACKOFF_FIRST
    assert took[1] >= 0.95 * 2 * BACKOFF_FIRST
    assert took[2] >= 0.95 * 4 * BACKOFF_FIRST
