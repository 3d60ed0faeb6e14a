"""Fair password checks under a flood: a queue for the check slots, in turns by client, and a back-off.

A check is a key derivation (scrypt: about 0.1 s and 32 MiB), so only CONCURRENT_CHECKS run at once, which
bounds the memory and CPU a flood of wrong passwords can take. A check waits for a slot, for at most MAX_WAIT
seconds (then the request is answered 503 with Retry-After), and each client (an address, an IPv6 /64:
`clients.client_of`) has at most one check running: a flood from one address takes one slot and queues
behind itself, while others' checks pass it. The clients take their turns in order (`client_lines`), and a
client's own checks go newest first: a right password sent from a flooder's address in the first second of
the flood, before the back-off below has grown, waits for the check running, not for the whole burst the
flood sent before it. The flood's oldest are those left waiting, until MAX_WAIT.

Failures back off: each failed check adds to a score of its client and one of its user name, which decays
(halving every SCORE_HALF_LIFE seconds), and its answer is held for BACKOFF_FIRST seconds doubling with the
score, at most BACKOFF_MOST. The delay is on the answer to a wrong password, after the check: a right
password is never held, only queued, so a flood never locks the right password out, even one from the
user's own address and against the user's own name. Holding the answer does not hold a worker thread: the
server sends it late (`serving.connections`), while the worker goes on to the next request.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from audio_library.access.client_lines import ClientLines


CONCURRENT_CHECKS = 2
MAX_WAIT = 3.0  # seconds a check may wait for its slot
BACKOFF_FIRST = 0.25  # seconds the answer to a first failure is held
BACKOFF_MOST = 8.0
SCORE_HALF_LIFE = 60.0  # seconds
MAX_SCORES = 10_000  # clients and user names remembered, the least recently failed forgotten first


class ChecksBusyError(Exception):
    """No slot for a password check came free within MAX_WAIT: the request should be tried again shortly."""


class CheckQueue:
    """The slots for password checks, taken by clients in turns (a client's own newest first), at most one at a
    time per client."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._condition = threading.Condition()
        self._waiting: ClientLines[object] = ClientLines(newest_first=True)  # tickets, one per check waiting
        self._running: set[str] = set()  # the clients with a check running

    def _may_start(self, client: str, ticket: object) -> bool:
        """Whether a slot is free and `ticket` is the next of the first waiting client with no check running."""
        if len(self._running) >= self.slots:
            return False
        first = self._waiting.next_client(lambda waiting: waiting not in self._running)
        return first == client and self._waiting.next_of(client) is ticket

    @contextmanager
    def turn(self, client: str, max_wait: float = MAX_WAIT) -> Iterator[None]:
        """Wait for this client's turn to check a password, and hold a slot meanwhile; ChecksBusyError if
        the turn does not come within `max_wait` seconds."""
        ticket = object()
        deadline = time.monotonic() + max_wait
        with self._condition:
            self._waiting.append(client, ticket)
            try:
                while not self._may_start(client, ticket):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ChecksBusyError
                    self._condition.wait(remaining)
            except BaseException:
                self._waiting.remove(client, ticket)
                raise
            finally:
                self._condition.notify_all()  # whoever was behind this one may start (or now be first)
            self._waiting.take(client)
            self._running.add(client)
        try:
            yield
        finally:
            with self._condition:
                self._running.discard(client)
                self._condition.notify_all()


class Backoff:
    """Decaying failure scores of clients and user names, and how long a failure's answer is held."""

    def __init__(self, most: float = BACKOFF_MOST, clock: Callable[[], float] = time.monotonic) -> None:
        """`most`: the longest an answer is held, in seconds (0: never held)."""
        self.most = most
        self.clock = clock
        self._scores: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (score, when)
        self._lock = threading.Lock()

    def _score(self, key: str, now: float) -> float:
        score, when = self._scores.get(key, (0.0, now))
        decayed: float = score * 0.5 ** ((now - when) / SCORE_HALF_LIFE)
        return decayed

    def failed(self, client: str, name: str) -> float:
        """Count a failed check by this client for this name; the seconds its answer is to be held."""
        now = self.clock()
        keys = (f"client {client}", f"name {name}")
        with self._lock:
            scores = [self._score(key, now) + 1 for key in keys]
            for key, score in zip(keys, scores, strict=True):
                self._scores[key] = (score, now)
                self._scores.move_to_end(key)
            while len(self._scores) > MAX_SCORES:
                self._scores.popitem(last=False)
        return min(BACKOFF_FIRST * 2 ** (max(scores) - 1), self.most)
