"""Benchmark the web dashboard (run on demand: `.venv/bin/python bench/bench_web.py`).

Writes a 10,000-document project in the on-disk format (bench_cli.populate), starts a real
`qms-mcp --transport streamable-http` on it and times `GET /` (the first page of the
documents, the counts and what waits on whom) over HTTP: the first request (it may wait for
the server's one read of every meta file and title at start-up) and the median of the
following ones, against reading and parsing every meta file once in-process (the machine's
speed, measured in the same run). Also times a search, the last page, one document page and
`GET /healthz`. Target: warm `GET /` / reading every meta once <= 0.1. Exit status 0 when
the target is met.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _server import free_port, start_server  # noqa: E402
from bench_cli import new_project, populate  # noqa: E402

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[float, int]:
    t = time.perf_counter()
    with OPENER.open(url, timeout=60) as response:
        size = len(response.read())
    return time.perf_counter() - t, size


def bare_read(root: Path) -> float:
    """Machine-speed reference: read and parse every meta file once, nothing else."""
    t = time.perf_counter()
    for folder in (root / "QMS" / ".meta").iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            for path in folder.iterdir():
                json.loads(path.read_bytes())
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=11, help="warm dashboard requests")
    ap.add_argument("--keep", action="store_true", help="keep the generated project")
    ap.add_argument("--reuse", metavar="DIR", help="serve this project (e.g. a kept 'big' one) "
                    "instead of generating one")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qms-bench-web-"))
    try:
        if args.reuse:
            root = Path(args.reuse)
        else:
            root = new_project(tmp / "big")
            t0 = time.perf_counter()
            populate(root, args.docs)
            print(f"generated {args.docs} documents in {time.perf_counter() - t0:.1f} s ({tmp})")
        bare = bare_read(root)
        port = free_port()
        proc = start_server(root, port)
        base = f"http://127.0.0.1:{port}"
        try:
            cold, size = get(f"{base}/")
            pages = {"/": [], f"/?q=change+{args.docs // 3}": [],
                     f"/?page={-(-args.docs // 100)}": [], "/?status=IN_EXECUTION&page=3": [],
                     f"/documents/CR-{args.docs // 2:03d}": [], "/healthz": []}
            for _ in range(args.runs):  # interleaved
                for path, times in pages.items():
                    times.append(get(f"{base}{path}")[0])
            bare = statistics.median([bare, *(bare_read(root) for _ in range(2))])
        finally:
            proc.terminate()
            proc.wait(10)
        median = statistics.median(pages["/"])
        ratio = median / bare
        ok = ratio <= 0.1
        print(f"GET / ({size / 1e3:.0f} kB of HTML, {args.docs} documents)")
        print(f"  first request after start {cold * 1000:8.1f} ms   (info: may wait for the "
              f"start-up read of the index)")
        print(f"  warm (median of {args.runs:>2})       {median * 1000:8.1f} ms")
        print(f"reference: reading and parsing every meta file once, in-process: "
              f"{bare * 1000:.1f} ms (median of 3; load average {os.getloadavg()[0]:.1f})")
        print(f"warm GET / / reference = {ratio:.3f}   target <= 0.1  "
              f"{'OK' if ok else 'MISSED'}")
        for path, times in list(pages.items())[1:]:
            print(f"GET {path:<32}{statistics.median(times) * 1000:8.1f} ms")
        print("all targets met" if ok else "SOME TARGETS MISSED")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
