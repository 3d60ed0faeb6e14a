"""Worker threads taken in turns by client, and at most half of them by any one client, so that one client's
many requests never keep another's waiting.

waitress queues requests for its worker threads first come first served: a client with twenty requests under
way (a flood of wrong passwords, each waiting for its turn to be checked) holds every worker, and another
client's request waits behind all of them. Here the queue is one line per client (`clients.client_of`),
served in turns, and a client with half the workers serving its requests waits for one of them to end
before its next is taken: a request waits behind at most one of each other client's, and a free worker is
there for it. A client's own line is served from both ends in turn, and a connection that has sent a wrong
password (its answer held back) waits behind the client's others (`client_lines`): a user on a flooder's
address waits for about one of the flood's requests, not for all that it sent first, nor for those it sends
again.
"""

import threading
from collections import Counter
from typing import Any

from waitress.task import ThreadedTaskDispatcher

from audio_library.access.client_lines import ClientLines
from audio_library.access.clients import client_of


class Served:
    """A task handed to a worker, which counts it as its client's until it ends."""

    def __init__(self, task: Any, client: str, queue: "TurnsQueue") -> None:
        self.task = task
        self.client = client
        self.queue = queue

    def service(self) -> None:
        """Serve the task (as waitress's worker would), then let the client's next request be taken."""
        try:
            self.task.service()
        finally:
            self.queue.done(self.client)

    def cancel(self) -> None:
        """Cancel the task (waitress's shutdown does so with those still queued)."""
        self.task.cancel()


class TurnsQueue:
    """The tasks waiting for a worker, one line per client, the lines served in turn (round robin) and each
    from both ends in turn (`client_lines`), a client with `per_client` tasks being served skipped; the part
    of a deque that waitress's dispatcher uses: append, popleft and len, called with the dispatcher's lock
    held. A connection that has had an answer held back (`connections.GuardedChannel`) goes behind its
    client's others."""

    def __init__(self, wake: threading.Condition, per_client: int) -> None:
        self.wake = wake  # the dispatcher's condition, on its lock: a worker waits on it for a task
        self.per_client = per_client
        self.lines: ClientLines[Any] = ClientLines()
        self.serving: Counter[str] = Counter()

    def append(self, task: Any) -> None:
        """Queue a task (a waitress channel with a request to serve) in its client's line."""
        address = task.addr[0] if getattr(task, "addr", None) else ""
        self.lines.append(client_of(address), task, behind=getattr(task, "answer_held_before", False))

    def popleft(self) -> Served:
        """The next task of the client whose turn it is; that client's turn then comes again after the others'.
        Only called when len() is not 0."""
        client = self.lines.next_client(lambda client: self.serving[client] < self.per_client)
        assert client is not None  # len() said there was one
        task = self.lines.take(client)
        self.serving[client] += 1
        return Served(task, client, self)

    def done(self, client: str) -> None:
        """A task of this client has ended: its next may be taken, so wake a worker."""
        with self.wake:
            self.serving[client] -= 1
            if not self.serving[client]:
                del self.serving[client]
            self.wake.notify()

    def __len__(self) -> int:
        """The tasks a worker may take now (those of clients below their share)."""
        return sum(count for client, count in self.lines.waiting() if self.serving[client] < self.per_client)


class TurnsDispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, with a TurnsQueue in place of its first-come-first-served deque."""

    queue: TurnsQueue  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.queue = TurnsQueue(self.queue_cv, per_client=1)

    def set_thread_count(self, count: int) -> None:
        """Extends ThreadedTaskDispatcher.set_thread_count: a client's share is half the threads (at least one)."""
        with self.lock:
            self.queue.per_client = max(1, count // 2)
        super().set_thread_count(count)
