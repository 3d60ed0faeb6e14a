"""Waiting for something to become true, with a deadline: the suites never sleep to wait for a server."""

import time
from collections.abc import Callable


DEADLINE = 15.0  # seconds any polled condition may take before the test fails instead of hanging
INTERVAL = 0.02


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Poll `condition()` until it is truthy, or fail naming `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(INTERVAL)
    raise AssertionError(f"not within {timeout} s: {what}")
