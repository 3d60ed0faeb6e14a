"""Worker threads taken in turns by client, so that one client's many requests never keep another's waiting.

waitress queues requests for its worker threads first come first served: a client with twenty requests under
way (a flood of wrong passwords, each waiting for its turn to be checked) holds every worker, and another
client's request waits behind all of them. Here the queue is one line per client (`clients.client_of`),
served in turns: a request waits behind at most one of each other client's.
"""

from collections import OrderedDict, deque
from typing import Any

from waitress.task import ThreadedTaskDispatcher

from audio_library.access.clients import client_of


class TurnsQueue:
    """The tasks waiting for a worker, one line per client, the lines served in turn (round robin); the part of
    a deque that waitress's dispatcher uses: append, popleft and len."""

    def __init__(self) -> None:
        self.lines: OrderedDict[str, deque[Any]] = OrderedDict()
        self.length = 0

    def append(self, task: Any) -> None:
        """Queue a task (a waitress channel with a request to serve) at the end of its client's line."""
        address = task.addr[0] if getattr(task, "addr", None) else ""
        self.lines.setdefault(client_of(address), deque()).append(task)
        self.length += 1

    def popleft(self) -> Any:
        """The first task of the client whose turn it is; that client's turn then comes again after the others'."""
        client, line = next(iter(self.lines.items()))
        task = line.popleft()
        if line:
            self.lines.move_to_end(client)
        else:
            del self.lines[client]
        self.length -= 1
        return task

    def __len__(self) -> int:
        return self.length


class TurnsDispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, with a TurnsQueue in place of its first-come-first-served deque."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = TurnsQueue()  # type: ignore[assignment]
