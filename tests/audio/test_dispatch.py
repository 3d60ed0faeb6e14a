"""Worker threads in turns by client: one line per client served round robin, each from both ends in turn, a
connection that sent a wrong password behind the rest, and a client's share capped."""

import threading
from dataclasses import dataclass, field

from audio_library.serving.dispatch import TurnsDispatcher, TurnsQueue


@dataclass
class Request:
    """What waitress queues for a worker: something with the client's address, to serve or cancel."""

    addr: tuple[str, int]
    label: str
    served: list[str] = field(default_factory=list)
    answer_held_before: bool = False  # as a GuardedChannel says once it has held an answer back

    def service(self) -> None:
        self.served.append(self.label)

    def cancel(self) -> None:
        self.served.append(f"cancelled {self.label}")


def test_clients_are_served_in_turns_not_in_order_of_arrival() -> None:
    queue = TurnsQueue(threading.Condition(), per_client=8)
    for label in ["flood 1", "flood 2", "flood 3"]:
        queue.append(Request(("192.0.2.1", 1), label))
    queue.append(Request(("192.0.2.2", 1), "user"))
    queue.append(Request(("2001:db8::1", 1), "v6 a"))
    queue.append(Request(("2001:db8::2", 1), "v6 b"))  # the same /64: the same client as v6 a
    taken = [queue.popleft().task.label for _ in range(len(queue))]
    assert taken == ["flood 1", "user", "v6 a", "flood 3", "v6 b", "flood 2"]
    assert len(queue) == 0


def test_a_clients_line_is_served_from_both_ends_and_wrong_passwords_last() -> None:
    queue = TurnsQueue(threading.Condition(), per_client=8)
    flooder = ("192.0.2.1", 1)
    queue.append(Request(flooder, "refused before", answer_held_before=True))
    for number in range(1, 5):
        queue.append(Request(flooder, f"flood {number}"))
    queue.append(Request(flooder, "user"))  # the last to come, on the flooder's address
    queue.append(Request(flooder, "refused again", answer_held_before=True))
    taken = [queue.popleft().task.label for _ in range(len(queue))]
    # The user waits behind one of the burst before it, not four; those refused before come last.
    assert taken == ["flood 1", "user", "flood 2", "flood 4", "flood 3", "refused again", "refused before"]


def test_a_client_at_its_share_waits_while_others_are_taken() -> None:
    wake = threading.Condition()
    queue = TurnsQueue(wake, per_client=2)
    served: list[str] = []
    for number in range(4):
        queue.append(Request(("192.0.2.1", 1), f"flood {number}", served))
    first, second = queue.popleft(), queue.popleft()
    assert len(queue) == 0  # the flooder has its two: its other requests wait, though queued
    queue.append(Request(("192.0.2.2", 1), "user", served))
    assert len(queue) == 1
    assert queue.popleft().task.label == "user"
    first.service()  # ends: the flooder's next may be taken
    assert len(queue) == 2
    assert queue.popleft().task.label == "flood 1"
    second.cancel()
    assert served == ["flood 0", "cancelled flood 3"]


def test_the_dispatcher_gives_a_client_half_its_threads() -> None:
    dispatcher = TurnsDispatcher()
    try:
        dispatcher.set_thread_count(8)
        assert dispatcher.queue.per_client == 4
        dispatcher.set_thread_count(1)
        assert dispatcher.queue.per_client == 1
    finally:
        dispatcher.shutdown()
