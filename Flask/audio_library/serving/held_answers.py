"""Answers sent late without holding a worker: the application asks (`auth.HOLD_ANSWER_KEY`), the connection
keeps the answer until its time (`connections.GuardedChannel`), and a wake-up thread rouses the event loop
then, since the loop otherwise looks only once a second."""

import heapq
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from waitress.task import WSGITask

from audio_library.access.auth import HOLD_ANSWER_KEY


class WakeUps:
    """Calls `wake` at each time asked for (time.monotonic()), from one thread of its own."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self._times: list[float] = []
        self._condition = threading.Condition()
        threading.Thread(target=self.run, name="held-answers", daemon=True).start()

    def at(self, when: float) -> None:
        """Call `wake` at `when` (or at once, if it is past)."""
        with self._condition:
            heapq.heappush(self._times, when)
            self._condition.notify()

    def run(self) -> None:
        """Wait for the next time asked for, and wake then."""
        while True:
            with self._condition:
                while not self._times or self._times[0] > time.monotonic():
                    self._condition.wait(self._times[0] - time.monotonic() if self._times else None)
                heapq.heappop(self._times)
            self.wake()


class HoldingTask(WSGITask):
    """waitress's WSGI task, offering the application HOLD_ANSWER_KEY: its channel's `hold_answer`."""

    def get_environment(self) -> dict[str, Any]:
        """Extends WSGITask.get_environment with the callable."""
        environ: dict[str, Any] = super().get_environment()
        environ[HOLD_ANSWER_KEY] = cast(Any, self.channel).hold_answer  # a GuardedChannel
        return environ
