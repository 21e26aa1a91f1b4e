"""Where the checks of ``qms verify`` run: in worker processes and in the caller.

The checks are independent (each document against its share of the chain, each range of
chain signatures), so a large project is split into tasks handed to one worker process per
further CPU (started with spawn, which is safe in the multi-threaded MCP server). The
caller does its own part meanwhile (the chain, the walk of the tree) and then takes back,
from the end, every task no worker has started yet: nobody waits while work is left. A
task's result is the same whoever runs it, so the findings do not depend on the split.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Callable

MAX_PROCESSES = 8  # past this, starting a process costs more than its share saves


def processes() -> int:
    """How many processes (the caller included) share the work: every CPU, up to
    :data:`MAX_PROCESSES`."""
    return max(1, min(os.cpu_count() or 1, MAX_PROCESSES))


class Work:
    """Tasks for ``workers`` spawned processes (none: the caller runs every task)."""

    def __init__(self, workers: int) -> None:
        self._tasks: list[list[Any]] = []  # [future or None, function, args, result]
        self._pool = None
        if workers > 0:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        """Queue ``fn(*args)`` (a module-level function); returns its number."""
        future = self._pool.submit(fn, *args) if self._pool is not None else None
        self._tasks.append([future, fn, args, None])
        return len(self._tasks) - 1

    def help(self) -> None:
        """Run, here, every task no worker has started, the last first."""
        for task in reversed(self._tasks):
            future, fn = task[0], task[1]
            if fn is not None and (future is None or future.cancel()):
                task[0], task[1], task[3] = None, None, fn(*task[2])

    def result(self, number: int) -> Any:
        """The result of a task (run here if nobody has)."""
        self.help()
        future, _, _, result = self._tasks[number]
        return future.result() if future is not None else result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
