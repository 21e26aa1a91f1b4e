"""The typesetting process of ``render.worker``: ``python -m qms.render.typeset MEMORY_MB
CPU_S``. It limits its own address space before it loads anything and its CPU time per
job, loads Typst and the Markdown parser while its caller gathers the record, then reads
one job per line on standard input: the document's Markdown becomes its token tree here
(render.tree) and goes to the Typst template as data, never as code, compiled in the job's
sandbox root. It imports nothing it does not need (it is on the critical path of every
export): the pool and its limits live in ``render.worker``; :func:`start` (the process as
its caller holds it) is here so that ``qms export`` can start one before it loads anything
else (worker.start_early)."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FONTS = "/usr/share/fonts/truetype/dejavu"  # Debian's fonts-dejavu-core; else Typst's own
UNSHOWN = re.compile(r'the text `"((?:[^"\\]|\\.)*)"` could not be displayed')
FALLBACK = ("\ufffd", "?")  # what a character without a glyph becomes, in turn
NO_MEMORY = 3  # the exit status when the memory limit was hit
RELEASE_FROM = 1_000_000  # data (bytes of JSON) from which the parse's memory is handed back


def main(argv: list[str]) -> int:
    """Set the limits, load Typst and the Markdown parser, then typeset each job read from
    standard input (one JSON line each) into its ``out`` file."""
    import resource

    os.chdir("/")  # started where its caller was: nothing here is read by a relative path
    memory, seconds = int(argv[0]) << 20, int(argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        import typst

        from qms.render import tree

        tree.document("")  # the parser, built while the caller gathers
        fonts = typst.Fonts(include_system_fonts=False,
                            font_paths=[FONTS] if os.path.isdir(FONTS) else [])
        for line in sys.stdin.buffer:  # one job per line, as the caller gathers them
            _limit_cpu(resource, seconds)
            _compile(typst, fonts, tree, json.loads(line))
            _done()
    except MemoryError:
        return NO_MEMORY
    except (ImportError, OSError) as exc:  # Typst's library could not even be mapped
        if "failed to map" in str(exc) or getattr(exc, "errno", None) == errno.ENOMEM:
            return NO_MEMORY
        raise
    os._exit(0)  # every PDF is written and closed: no interpreter teardown to wait for


def _done() -> None:
    """One line on standard output per PDF written: its caller goes on at once, without
    waiting for this process to end."""
    try:
        os.write(1, b"\n")
    except OSError:  # the caller has gone
        pass


class Process:
    """A typesetting process as its caller holds it: ``stdin`` (one job per line),
    ``errors`` (its standard error, an anonymous file read when it fails), :meth:`made`
    and the methods of ``subprocess.Popen`` the pool uses."""

    def __init__(self, pid: int, stdin: int, done: int, errors: int) -> None:
        self.pid, self.returncode, self.reported, self.finished = pid, None, 0, False
        self.stdin = os.fdopen(stdin, "wb")
        self._done = os.fdopen(done, "rb", buffering=0)
        self.errors = os.fdopen(errors, "rb")

    def made(self, count: int) -> bool:
        """Wait until it has written ``count`` PDFs in all (True) or ended before (False)."""
        while self.reported < count:
            said = self._done.read(count - self.reported)
            if not said:
                return False
            self.reported += said.count(b"\n")  # anything else it printed is not a PDF
        self.finished = True
        return True

    def close(self) -> None:
        for f in (self.stdin, self._done, self.errors):
            f.close()

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start(memory_mb: int, cpu_s: int) -> Process:
    """A new typesetting process (``posix_spawn``: nothing to import first, so the CLI
    starts it within milliseconds of its own start)."""
    argv = [sys.executable, "-P", "-m", "qms.render.typeset", str(memory_mb), str(cpu_s)]
    return _launch(lambda streams, _: os.posix_spawn(
        sys.executable, argv, {**os.environ, "MALLOC_ARENA_MAX": "2"},  # few arenas: less
        file_actions=[(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(streams)]))


def fork(memory_mb: int, cpu_s: int) -> Process:
    """A typesetting process forked from this one: no second interpreter to start, nothing
    loaded twice (~20 ms sooner than :func:`start`). Only for a process with no thread yet
    (``qms export`` at its start, worker.start_early): forking a threaded process is unsafe,
    and the child inherits what the parent holds (here: nothing but its arguments)."""
    def begin(streams: tuple[int, int, int], ours: tuple[int, int]) -> int:
        pid = os.fork()
        if pid == 0:  # the child: its own standard streams, then typesetting; never returns
            _child(streams, ours, [str(memory_mb), str(cpu_s)])
        return pid

    return _launch(begin)


def _launch(begin: Any) -> Process:
    """A typesetting process ``begin(streams, ours)`` starts (its pid) on its three
    standard ``streams``: jobs in, one line per PDF out, errors into an anonymous file;
    ``ours`` are the caller's ends of the two pipes."""
    errors = _anonymous_file()
    jobs, jobs_in = os.pipe()
    done_out, done = os.pipe()
    try:
        pid = begin((jobs, done, errors), (jobs_in, done_out))
    except BaseException:
        for fd in (jobs_in, done_out, errors):
            os.close(fd)
        raise
    finally:
        os.close(jobs)
        os.close(done)
    return Process(pid, jobs_in, done_out, errors)


def _child(streams: tuple[int, int, int], ours: tuple[int, int], argv: list[str]) -> None:
    """The forked child: its standard streams (it holds no other end of its pipes, or its
    input would never end), then :func:`main`; it never returns."""
    code = 1
    try:
        for n, fd in enumerate(streams):
            os.dup2(fd, n)
        for fd in (*streams, *ours):
            os.close(fd)
        # the parent's stream objects may not be its descriptors (a test runner's)
        sys.stdin, sys.stdout, sys.stderr = (open(n, mode, closefd=False)  # noqa: SIM115
                                             for n, mode in ((0, "r"), (1, "w"), (2, "w")))
        code = main(argv)
    except BaseException:  # noqa: BLE001  told on its standard error, like any failure
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _anonymous_file() -> int:
    """A file with no name in the temporary folder (gone when closed)."""
    folder = os.environ.get("TMPDIR") or "/tmp"
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o600)
    except (OSError, AttributeError):  # no O_TMPFILE here: a new name, removed at once
        path = os.path.join(folder, f".qms-typeset-{os.urandom(8).hex()}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.unlink(path)
        return fd


def _limit_cpu(resource: Any, seconds: int) -> None:
    """At most ``seconds`` more of CPU time (for the next job); SIGXCPU ends it."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime) + seconds
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY
                                             else min(soft, hard), hard))


def _compile(typst: Any, fonts: Any, tree: Any, job: dict) -> None:
    """Typeset one job into its ``out`` file. The document's Markdown becomes its tree
    here; a character no font can show is replaced (and named in the PDF), as PDF/A
    requires."""
    from datetime import datetime

    data = job.pop("data")
    if "markdown" in data:
        data["body"] = tree.document(data.pop("markdown"))
    data["unshown"] = []
    text = json.dumps(data, ensure_ascii=False)
    del data
    if len(text) > RELEASE_FROM:
        _release()  # the parse's memory, before Typst needs its own
    root = job["root"]
    compiler = typst.Compiler(root=root, font_paths=fonts, ignore_system_fonts=True,
                              package_path=root, package_cache_path=root)
    for fallback in (*FALLBACK, None):
        try:
            pdf = compiler.compile(
                input=os.path.join(root, job["template"]), format="pdf",
                pdf_standards=["a-3b"], pdf_tags=False, sys_inputs={"data": text},
                timestamp=datetime.fromisoformat(job["when"]))
            break
        except typst.TypstError as err:
            missing = [_unescape(m) for m in UNSHOWN.findall(str(err.diagnostic))]
            if fallback is None or not missing:
                raise
            data = _replace(json.loads(text), {m: fallback for m in missing})
            data["unshown"] += [n for n in map(_name, missing) if n not in data["unshown"]]
            text = json.dumps(data, ensure_ascii=False)
    with open(job["out"], "wb") as out:
        out.write(pdf)


def _release() -> None:
    """Give freed memory back to the system (glibc keeps it otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _unescape(text: str) -> str:
    """A string as Typst's diagnostics quote it (Rust's debug format)."""
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
    return re.sub(r"\\u\{([0-9a-fA-F]+)\}|\\(.)",
                  lambda m: chr(int(m.group(1), 16)) if m.group(1) else
                  simple.get(m.group(2), m.group(2)), text)


def _name(text: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in text)


def _replace(value: object, table: dict[str, str]) -> object:
    """``value`` (the template's data) with every text in ``table`` replaced."""
    if isinstance(value, str):
        for old, new in table.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace(v, table) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, table) for k, v in value.items()}
    return value


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
