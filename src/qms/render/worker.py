"""Typst in separate, bounded processes (``render.typeset``).

A :class:`Pool` starts its worker processes at once, so they load Typst and the Markdown
parser while the caller gathers the record; the CLI starts one even earlier, before it has
read the project (:func:`start_early`). Each job is then laid out in a sandbox of its
own (a fresh folder holding only the templates and the files to attach) and handed to a
worker on its standard input, one JSON line per job, as soon as it is ready. The worker
parses the Markdown and runs Typst. It limits its own address space (``RLIMIT_AS``) before
it loads anything, and its CPU time for each job; the caller kills it when it runs past its
time. So a huge or hostile record costs a bounded time and memory, outside the process that
asked for it (a server's event loop and memory are never touched), and the caller gets a
clear error. At most :data:`SLOTS` renders run at once per process; many jobs (``export
--all``) are split over several workers.
"""

from __future__ import annotations

import json
import os
import signal
import threading

from qms.errors import ValidationError
from qms.render.typeset import NO_MEMORY, Process, fork, start

TYPE_CHECKING = False
if TYPE_CHECKING:  # pathlib loads when a pool is made: the CLI starts a worker before it
    from pathlib import Path

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
TIMEOUT_S = 60.0          # per job
MEMORY_MB = 1536          # address space of a worker (a 1.97 MB document with a table on
                          # every page needs ~1.05 GB of it, ~0.94 GB resident)
PARALLEL_FROM = 16        # jobs per extra worker process
SLOTS = threading.BoundedSemaphore(2)  # renders at once in this process (a busy dashboard)
_RENDERER: list[str] = []


def workers_for(jobs: int) -> int:
    """How many worker processes ``jobs`` dossiers are split over."""
    return max(1, min(os.cpu_count() or 1, jobs // PARALLEL_FROM))


def renderer() -> str:
    """What a PDF depends on besides its data: the templates, qms and the Typst build
    (part of the export cache's key)."""
    if not _RENDERER:
        from importlib.util import find_spec

        from qms import __version__
        from qms.domain.integrity import sha256_bytes

        spec = find_spec("typst")
        build = os.stat(spec.origin) if spec and spec.origin else None
        parts = [f"qms {__version__} typst {build and (build.st_size, build.st_mtime_ns)}"
                 .encode()]
        parts += [name.encode() + b"\0" + _read(os.path.join(TEMPLATES, name))
                  for name in sorted(os.listdir(TEMPLATES))]
        _RENDERER.append(sha256_bytes(b"\0".join(parts)))
    return _RENDERER[0]


class Pool:
    """``count`` worker processes, started now. :meth:`batch` hands jobs to some of them as
    they come; leaving the ``with`` block stops the ones still running and removes every
    sandbox."""

    def __init__(self, count: int = 1) -> None:
        import tempfile
        from pathlib import Path

        self._slot = SLOTS.acquire()
        self._tmp = tempfile.TemporaryDirectory(prefix="qms-export-")
        self.base = Path(self._tmp.name)
        self._idle: list[Process] = []
        self._all: list[Process] = []
        self._jobs = 0
        try:
            for _ in range(count):
                self._idle.append(self._spawn())
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for proc in self._all:
            if proc.poll() is None and not proc.finished:
                proc.kill()
                proc.wait()
            elif proc.returncode is None:  # done, and ending on its own: reaped later
                _ENDING.append(proc)
            proc.close()
        _reap()
        self._tmp.cleanup()
        if self._slot:
            self._slot = False
            SLOTS.release()

    def render(self, jobs: list[dict], processes: int = 1) -> list[bytes]:
        """The PDF of each job (``render.pdf``: template, data, files, when), in order,
        split over ``processes`` workers."""
        batch = self.batch(processes)
        for job in jobs:
            batch.add(job)
        return batch.finish()

    def batch(self, processes: int = 1) -> Batch:
        """Jobs for ``processes`` workers (idle ones first), typeset as they are added."""
        return Batch(self, [self._idle.pop() if self._idle else self._spawn()
                            for _ in range(processes)])

    def _spawn(self) -> Process:
        worker = _EARLY.pop() if _EARLY else _spawn()
        self._all.append(worker)
        return worker

    def sandbox(self, job: dict) -> dict:
        """A compile root for one job: the templates and the files it attaches, nothing
        else."""
        n = self._jobs = self._jobs + 1
        root = self.base / f"job{n}"
        root.mkdir()
        for name in os.listdir(TEMPLATES):
            _place(os.path.join(TEMPLATES, name), root / name)
        for name, data in job["files"]:
            if "/" in name or name.startswith(".") or (root / name).exists():
                raise ValueError(f"not an attachment name: {name!r}")
            (root / name).write_bytes(data)
        return {"root": str(root), "template": job["template"], "data": job["data"],
                "when": job["when"], "out": str(self.base / f"job{n}.pdf")}


class Batch:
    """Jobs sent to its workers in turn, one JSON line each, as they are added (the workers
    typeset while the caller gathers the next); :meth:`finish` waits for all and returns
    the PDFs in order."""

    def __init__(self, pool: Pool, workers: list[Process]) -> None:
        self.pool, self.workers = pool, workers
        self.outs: list[str] = []
        self.sent: list[list[tuple[str, str]]] = [[] for _ in workers]  # (name, out) each

    def add(self, job: dict) -> None:
        request = self.pool.sandbox(job)
        k = len(self.outs) % len(self.workers)
        self.outs.append(request["out"])
        self.sent[k].append((job["name"], request["out"]))
        try:
            self.workers[k].stdin.write(json.dumps(request, ensure_ascii=False).encode()
                                        + b"\n")
            self.workers[k].stdin.flush()  # it starts on this job at once
        except OSError:  # it has died: finish says why
            pass

    def finish(self) -> list[bytes]:
        timers = []
        for proc, sent in zip(self.workers, self.sent):
            timer = threading.Timer(TIMEOUT_S * max(1, len(sent)), proc.kill)
            timer.start()
            timers.append(timer)
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            for proc, sent in zip(self.workers, self.sent):
                if not proc.made(len(sent)):
                    made = [name for name, out in sent if not os.path.exists(out)]
                    _result(proc, made[0] if made else "the PDF")
        finally:
            for timer in timers:
                timer.cancel()
        return [_read(out) for out in self.outs]


_EARLY: list[Process] = []  # started by start_early, not yet taken
_ENDING: list[Process] = []  # done with their jobs, not yet reaped


def _reap() -> None:
    """Collect the workers that have ended since (a server makes no zombies)."""
    _ENDING[:] = [proc for proc in _ENDING if proc.poll() is None]


def start_early() -> None:
    """Start one worker now, for the next :class:`Pool` of this process to take: the CLI
    calls this first thing for ``qms export``, so Typst and the parser load while it reads
    the project. One not taken ends with this process (its standard input closes)."""
    if not _EARLY:  # forked when nothing runs beside (the CLI at its start), else spawned
        _EARLY.append(fork(MEMORY_MB, int(TIMEOUT_S) + 1) if threading.active_count() == 1
                      else _spawn())


def _spawn() -> Process:
    return start(MEMORY_MB, int(TIMEOUT_S) + 1)


def _place(source: str, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        target.write_bytes(_read(source))


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _result(proc: Process, what: str) -> None:
    """Nothing when the worker made all its PDFs; else an error naming ``what`` it was
    typesetting and the limit it hit."""
    code = proc.wait()
    if code == 0:
        return
    if code in (-signal.SIGKILL, -signal.SIGXCPU):
        raise ValidationError(
            f"Typesetting {what} took longer than the export limit ({TIMEOUT_S:.0f} s per "
            "dossier) and was stopped; nothing was exported.", limit="time", seconds=TIMEOUT_S)
    proc.errors.seek(0)
    said = proc.errors.read().decode("utf-8", errors="replace")
    if code == NO_MEMORY or "memory allocation" in said:
        raise ValidationError(
            f"Typesetting {what} needed more than the export limit of {MEMORY_MB} MB of "
            "memory and was stopped; nothing was exported.", limit="memory", mb=MEMORY_MB)
    last = said.strip().splitlines()[-1] if said.strip() else f"exit status {code}"
    raise ValidationError(f"Typesetting {what} failed: {last[:500]}", limit="typst")
