"""The CPU-bound work of /cpu_task, in a module of its own that imports nothing, so that the async server's pool
processes start without loading the servers' libraries."""


def cpu_work(n: int) -> int:
    """The sum of the squares below n, in pure Python arithmetic that holds the interpreter for its whole run."""
    total = 0
    for number in range(n):
        total += number * number
    return total
