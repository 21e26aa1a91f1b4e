"""The layer contract of docs/architecture.md, checked with import-linter (the contracts are
in pyproject.toml): imports point inward, the adapters are independent, no import circles."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest



ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def lint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def linter():
    if not LINT.exists():
        pytest.skip(f"import-linter is not installed beside {sys.executable} (scripts/setup.sh)")
    return lint


@pytest.mark.req("REQ-ARCH-001")
def test_the_layer_and_acyclic_contracts_are_kept(linter):
    result = linter()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.req("REQ-ARCH-001")
@pytest.mark.parametrize("module, line, contract", [
    ("store/jsonl.py", "from qms.store import audit", "No import circles"),   # a circle
    ("store/meta.py", "from qms.operations import read", "Layers"),         # outward
    ("mcp/hints.py", "from qms.web import app", "Layers"),                  # adapter -> adapter
    ("domain/versions.py", "from qms.store import atomic", "Layers"),        # domain is pure
])
def test_an_import_that_points_the_wrong_way_fails_the_check(linter, tmp_path, module, line,
                                                             contract):
    """A copy of the package with one bad import: the same contracts must break."""
    shutil.copytree(ROOT / "src", tmp_path / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "src" / "qms" / module
    target.write_text(target.read_text() + f"\n{line}  # wrong way\n")
    result = subprocess.run([str(LINT)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={"PYTHONPATH": str(tmp_path / "src"),
                                              "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    broken = [l for l in result.stdout.splitlines() if l.endswith("BROKEN")]
    assert broken and broken[0].startswith(contract), result.stdout[-2000:]
