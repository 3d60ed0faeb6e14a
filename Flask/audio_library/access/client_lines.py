"""One line per client, the lines served in turns: the order of the worker threads (`serving.dispatch`) and of
the password checks (`check_queue`).

Turns: the client whose turn it is comes first, then goes to the back, so a client with many waiting keeps
another waiting behind at most one of its own. Within a client's own line, what came last is never kept
behind the whole of a burst that came just before it (the first twenty requests of a flood of wrong
passwords, and the user's, from the same address): the line is taken from both ends in turn, oldest, newest,
oldest…, so that the oldest still move on, at half the pace they would have first come first served, never
starved; or newest first, where waiting is bounded otherwise (a password check waits at most a few seconds).
An item may also be put behind the others of its client (a request on a connection that has sent a wrong
password), taken only when none of them waits.
"""

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar


Item = TypeVar("Item")


@dataclass
class Line(Generic[Item]):
    """One client's items: those ahead, and those put behind them."""

    ahead: deque[Item] = field(default_factory=deque)
    behind: deque[Item] = field(default_factory=deque)
    newest_next: bool = False  # whether the next turn takes the newest (taking from both ends)

    def part(self) -> deque[Item]:
        """Where the next item comes from."""
        return self.ahead or self.behind

    def __len__(self) -> int:
        return len(self.ahead) + len(self.behind)


class ClientLines(Generic[Item]):
    """Items waiting, in one line per client (`clients.client_of`); not thread-safe: callers hold their lock."""

    def __init__(self, newest_first: bool = False) -> None:
        """`newest_first`: take each line newest first, rather than from both ends in turn."""
        self.newest_first = newest_first
        self._lines: OrderedDict[str, Line[Item]] = OrderedDict()  # in the order of their turns

    def append(self, client: str, item: Item, behind: bool = False) -> None:
        """Put `item` in its client's line, `behind` the others or not (a new client's turn comes after the
        others')."""
        line = self._lines.setdefault(client, Line())
        (line.behind if behind else line.ahead).append(item)

    def remove(self, client: str, item: Item) -> None:
        """Take `item` out of its client's line, out of turn (it gave up waiting)."""
        line = self._lines[client]
        (line.ahead if item in line.ahead else line.behind).remove(item)
        if not line:
            del self._lines[client]

    def next_client(self, may_take: Callable[[str], bool]) -> str | None:
        """The client whose turn it is among those `may_take` accepts, or None."""
        return next((client for client in self._lines if may_take(client)), None)

    def _newest(self, line: Line[Item]) -> bool:
        return self.newest_first or line.newest_next

    def next_of(self, client: str) -> Item:
        """The item that `client`'s turn would take (it has one waiting)."""
        line = self._lines[client]
        return line.part()[-1] if self._newest(line) else line.part()[0]

    def take(self, client: str) -> Item:
        """Take `client`'s next item (`next_of`); the client's turn comes again after the others'."""
        line = self._lines[client]
        item = line.part().pop() if self._newest(line) else line.part().popleft()
        if not line:
            del self._lines[client]
            return item
        line.newest_next = not line.newest_next
        self._lines.move_to_end(client)
        return item

    def waiting(self) -> Iterator[tuple[str, int]]:
        """Each client with items waiting, and how many."""
        return ((client, len(line)) for client, line in self._lines.items())

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())
