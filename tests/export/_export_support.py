"""Helpers for the `qms export` tests: one real lifecycle (a CR through closure, an SOP at
v2.0) built with the real console script, and the poppler tools that read the PDFs back.

Skips, with the reason, when Typst (the `typst` wheel) cannot load or poppler-utils is
missing (Debian: poppler-utils; scripts/setup.sh installs it when run as root)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_NAME = "_qms_tests_root_conftest"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parents[1] / "conftest.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
ROOT = sys.modules[_NAME]
QMS_BIN = ROOT.QMS_BIN

TABLE_CELL = "Widget-calibration-matrix"
CODE_LINE = "export_sentinel = 42"
CR_BODY = f"""# CR: Fix the widget

## 1. Purpose

The widget drifts; this change fixes its calibration.

| Item | Value |
|---|---|
| {TABLE_CELL} | 3.5 mm |

```python
{CODE_LINE}
```
"""
SOP_V1 = "# SOP: Widget handling\n\nOriginal procedure sentence one.\n"
SOP_V2 = "# SOP: Widget handling\n\nRevised procedure sentence two.\n"


def _missing_tools() -> str | None:
    for tool in ("pdfinfo", "pdftotext", "pdfdetach", "pdftoppm"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian package poppler-utils)"
    try:
        import typst  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"Typst cannot load ({exc}); pip install typst (a dependency of qms)"
    return None


class Proc:
    """The real `qms` console script inside one project."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, user: str | None, *args: str, cwd: Path | None = None,
                 timeout: float = 120) -> ROOT.Run:
        env = {k: v for k, v in os.environ.items() if k != "QMS_PROJECT_ROOT"}
        if cwd is not None:  # run elsewhere, on this project
            env["QMS_PROJECT_ROOT"] = str(self.root)
        cmd = [str(QMS_BIN), *(("--user", user) if user else ()), *map(str, args)]
        proc = subprocess.run(cmd, cwd=cwd or self.root, capture_output=True, text=True,
                              timeout=timeout, env=env)
        return ROOT.Run(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, user: str | None, *args: str, **kw) -> ROOT.Run:
        run = self(user, *args, **kw)
        assert run.code == 0, f"qms {' '.join(args)}: {run.code} {run.err}{run.out}"
        return run

    def edit(self, user: str, doc_id: str, title: str, body: str) -> None:
        path = self.root / ".claude" / "users" / user / "workspace" / f"{doc_id}.md"
        path.write_text(f"---\ntitle: {title}\nrevision_summary: edited\n---\n\n{body}")


def build_lifecycle(root: Path) -> Proc:
    """CR-001 through closure and SOP-008 at v2.0, every step through the real CLI, in git."""
    ROOT.make_project(root)
    q = Proc(root)
    q.ok("lead", "user", "--add", "ini", "--group", "initiator")
    q.ok("claude", "create", "CR", "--title", "Fix the widget")
    q.edit("claude", "CR-001", "Fix the widget", CR_BODY)
    q.ok("claude", "checkin", "CR-001")
    for step in (("route", "--review"), ("review", "--recommend", "--comment", "pre ok"),
                 ("route", "--approval"), ("approve",), ("release",),
                 ("route", "--review"), ("review", "--recommend", "--comment", "done ok"),
                 ("route", "--approval"), ("approve",), ("close",)):
        user = "qa" if step[0] in ("review", "approve") else "claude"
        q.ok(user, step[0], "CR-001", *step[1:])
    q.ok("claude", "create", "SOP", "--title", "Widget handling")
    q.edit("claude", "SOP-008", "Widget handling", SOP_V1)
    q.ok("claude", "checkin", "SOP-008")
    for _ in range(2):
        for step in (("route", "--review"), ("review", "--recommend", "--comment", "fine"),
                     ("route", "--approval"), ("approve",)):
            q.ok("qa" if step[0] in ("review", "approve") else "claude", step[0], "SOP-008",
                 *step[1:])
        if json.loads(q.ok("qa", "--json", "status", "SOP-008").out)["result"]["version"] == "2.0":
            break
        q.ok("claude", "checkout", "SOP-008")
        q.edit("claude", "SOP-008", "Widget handling", SOP_V2)
        q.ok("claude", "checkin", "SOP-008")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(root), "commit", "-qm", "lifecycle"], check=True)
    return q


def records(root: Path) -> dict[str, str]:
    """Every file of the project but the export cache (``.qms/cache/``): what an export must
    leave as it was."""
    return {k: v for k, v in ROOT.tree_digest(root).items() if not k.startswith(".qms/cache/")}


def flat(text: str) -> str:
    """Text without any white space (lines broken anywhere by the layout join again)."""
    return "".join(text.split())


def pdftext(pdf: Path, page: int | None = None) -> str:
    args = ["pdftotext", "-layout"] + (["-f", str(page), "-l", str(page)] if page else [])
    return subprocess.run([*args, str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(next(line.split()[1] for line in info.stdout.splitlines()
                    if line.startswith("Pages:")))


def attached_names(pdf: Path) -> list[str]:
    """The embedded files' names (``pdfdetach -list``)."""
    out = subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return [line.split(": ", 1)[1] for line in out[1:] if ": " in line]


def pdfa_part(pdf: Path) -> str | None:
    """The PDF/A part the XMP metadata declares (``pdfinfo -meta``)."""
    import re

    meta = subprocess.run(["pdfinfo", "-meta", str(pdf)], capture_output=True, text=True).stdout
    found = re.search(r'pdfaid:part(?:="|>)(\d)', meta)
    conformance = re.search(r'pdfaid:conformance(?:="|>)([A-Z])', meta)
    return found and conformance and found.group(1) + conformance.group(1).lower()


def attachments(pdf: Path, dest: Path) -> dict[str, bytes]:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdfdetach", "-saveall", "-o", str(dest), str(pdf)], check=True,
                   capture_output=True)
    return {p.name: p.read_bytes() for p in dest.iterdir()}


def shots(pdf: Path, prefix: str) -> None:
    """PNG pages for a look (QMS_EXPORT_SHOTS=folder; not committed)."""
    folder = os.environ.get("QMS_EXPORT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        subprocess.run(["pdftoppm", "-r", "70", "-png", str(pdf), str(Path(folder) / prefix)],
                       check=True)
