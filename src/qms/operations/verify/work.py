"""Where the checks of ``qms verify`` run: in worker processes and in the caller.

The checks are independent (each document against its share of the chain, each range of
chain signatures), so a large project is split into tasks shared by the caller and one
worker process per further CPU. Every worker is sent every task as it is submitted and
takes them in order; the caller, once its own part is done (the chain, the walk of the
tree), takes them from the end. Whoever claims a task first (a flag in shared memory, under
a lock) runs it, so nobody waits while work is left and nothing runs twice. A task's result
is the same whoever runs it, so the findings do not depend on the split.

The caller runs no thread: a worker receives its tasks and sends its results on threads of
its own, so neither side waits on the other while it works, and the caller reads the
results when it needs them. Workers are forked when the caller has one thread (the CLI:
they start at once), spawned otherwise (forking a threaded process, such as the MCP server,
is unsafe). A worker that dies leaves its tasks to the caller.
"""

from __future__ import annotations

import gc
import os

TYPE_CHECKING = False  # typing is never imported at run time (CLI start-up cost)
if TYPE_CHECKING:
    from typing import Any, Callable

MAX_PROCESSES = 8  # past this, starting a process costs more than its share saves
MAX_TASKS = 1 << 16  # claim flags in shared memory (tasks are thousands of checks each)
_CALLER = 255  # the claim of a task the caller runs


def processes() -> int:
    """How many processes (the caller included) share the work: every CPU, up to
    :data:`MAX_PROCESSES`."""
    return max(1, min(os.cpu_count() or 1, MAX_PROCESSES))


class Work:
    """Tasks for ``workers`` further processes (none: the caller runs every task)."""

    def __init__(self, workers: int) -> None:
        self._tasks: list[list[Any]] = []  # [function, args, done, result or exception]
        self._workers: list[tuple[Any, Any, Any, int]] = []  # (process, tasks, results, id)
        if workers <= 0:
            return
        import multiprocessing
        import threading

        forked = threading.active_count() == 1
        ctx = multiprocessing.get_context("fork" if forked else "spawn")
        self._claims = ctx.RawArray("B", MAX_TASKS)
        self._lock = ctx.Lock()
        held: list[int] = []  # the caller's ends of every pipe: a forked worker closes them
        for number in range(1, workers + 1):
            task_in, task_out = ctx.Pipe(duplex=False)
            result_in, result_out = ctx.Pipe(duplex=False)
            held += [task_out.fileno(), result_in.fileno()]
            process = ctx.Process(target=_serve, daemon=True, args=(
                task_in, result_out, self._claims, self._lock, number,
                list(held) if forked else []))
            process.start()
            task_in.close()
            result_out.close()
            self._workers.append((process, task_out, result_in, number))

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        """Queue ``fn(*args)`` (a module-level function); returns its number."""
        number = len(self._tasks)
        if number >= MAX_TASKS:
            raise ValueError("too many tasks")
        self._tasks.append([fn, args, False, None])
        if self._workers:
            from multiprocessing.reduction import ForkingPickler

            message = bytes(ForkingPickler.dumps((number, fn, args)))
            for worker in self._workers:
                _send(worker[1], message)
        return number

    def help(self) -> None:
        """Run, here, every task nobody has claimed, the last first."""
        for number in reversed(range(len(self._tasks))):
            if not self._tasks[number][2] and self._claim(number):
                self._run(number)

    def result(self, number: int) -> Any:
        """The result of a task (run here if nobody has claimed it)."""
        self.help()
        task = self._tasks[number]
        while not task[2]:
            self._receive()
        if isinstance(task[3], _Failed):
            raise task[3].error
        return task[3]

    def close(self) -> None:
        """Stop the workers (after the task they are running; the others are left)."""
        if self._workers:
            with self._lock:
                for number in range(len(self._tasks)):
                    self._claims[number] = self._claims[number] or _CALLER
        for process, tasks, results, _ in self._workers:
            _send(tasks, None)
            tasks.close()
        for process, tasks, results, _ in self._workers:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
            results.close()
        self._workers = []

    def _claim(self, number: int) -> bool:
        if not self._workers:
            return True
        with self._lock:
            if self._claims[number]:
                return False
            self._claims[number] = _CALLER
            return True

    def _run(self, number: int) -> None:
        task = self._tasks[number]
        try:
            task[3] = task[0](*task[1])
        except Exception as exc:  # noqa: BLE001 - raised where the result is asked for
            task[3] = _Failed(exc)
        task[2] = True

    def _receive(self) -> None:
        """Wait for the next result of any worker; the tasks of a worker that died are run
        here."""
        from multiprocessing.connection import wait

        ready = wait([worker[2] for worker in self._workers])
        for worker in [w for w in self._workers if w[2] in ready]:
            try:
                number, ok, value = worker[2].recv()
            except (EOFError, OSError):
                self._workers.remove(worker)
                worker[0].join(1)
                for number, task in enumerate(self._tasks):
                    if not task[2] and self._claims[number] == worker[3]:
                        self._run(number)
                continue
            task = self._tasks[number]
            task[2], task[3] = True, value if ok else _Failed(value)


class _Failed:
    """A task that raised (re-raised where its result is asked for)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _send(connection: Any, message: bytes | None) -> None:
    try:
        connection.send_bytes(message if message is not None else b"")
    except OSError:
        pass  # the worker is gone: its tasks come back to the caller


def _serve(tasks: Any, results: Any, claims: Any, lock: Any, me: int,
           inherited: list[int]) -> None:
    """A worker: run every task it claims, in order, until the caller says stop."""
    import pickle
    import queue
    import threading

    gc.disable()  # a short-lived process: nothing here lives long enough to need it
    for fd in inherited:  # a forked worker holds none of the caller's ends of the pipes
        os.close(fd)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    outbox: queue.SimpleQueue = queue.SimpleQueue()

    def receive() -> None:
        try:
            while message := tasks.recv_bytes():
                inbox.put(message)
        except (EOFError, OSError):
            pass
        inbox.put(None)

    def send() -> None:
        while (item := outbox.get()) is not None:
            try:
                results.send(item)
            except OSError:
                return
            except Exception as exc:  # noqa: BLE001 - a result or error that cannot be pickled
                results.send((item[0], False, RuntimeError(f"{type(exc).__name__}: {exc}")))

    threading.Thread(target=receive, daemon=True).start()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    while (message := inbox.get()) is not None:
        number, fn, args = pickle.loads(message)
        with lock:
            mine = not claims[number]
            if mine:
                claims[number] = me
        if mine:
            try:
                outbox.put((number, True, fn(*args)))
            except Exception as exc:  # noqa: BLE001 - the caller raises it
                outbox.put((number, False, exc))
    outbox.put(None)
    sender.join()
