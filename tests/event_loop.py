"""Run a test's coroutine to completion, whatever event loop the calling thread already runs."""

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop running in pytest's thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-event-loop") as executor:
        return executor.submit(asyncio.run, coroutine).result()
