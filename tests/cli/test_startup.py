"""The CLI stays light: it never loads the MCP SDK (or its web stack) to run a command."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.req("REQ-CLI-002")

HEAVY = ("mcp", "pydantic", "starlette", "uvicorn", "httpx", "anyio", "qms.mcp.server", "qms.server.app")
PROBE = """
import sys
from qms.cli.main import main
code = main(sys.argv[1:])
loaded = [m for m in {heavy!r} if m in sys.modules]
if loaded:
    print("LOADED", loaded, file=sys.stderr)
    sys.exit(99)
sys.exit(code)
"""


@pytest.mark.parametrize("args", [
    ["--user", "qa", "status", "SOP-001"],
    ["--user", "claude", "create", "CR", "--title", "Light"],
    ["--user", "claude", "route", "CR-001", "--review"],
    ["--user", "qa", "inbox"],
    ["--user", "qa", "read", "SOP-001"],
])
def test_cli_commands_never_import_the_mcp_stack(project, args, helpers):
    probe = PROBE.format(heavy=HEAVY)
    if args[2] == "route":
        subprocess.run([sys.executable, "-c", probe, "--user", "claude", "create", "CR",
                        "--title", "x"], cwd=project, check=True, capture_output=True)
        helpers.fill(project, "CR-001")
    run = subprocess.run([sys.executable, "-c", probe, *args], cwd=project,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_status_does_not_even_load_yaml(project):
    probe = ("import sys\nfrom qms.cli.main import main\ncode = main(sys.argv[1:])\n"
             "sys.exit(98 if 'yaml' in sys.modules else code)")
    run = subprocess.run([sys.executable, "-c", probe, "--user", "qa", "status", "SOP-001"],
                         cwd=project, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


@pytest.mark.req("REQ-INTEG-007")
@pytest.mark.parametrize("args", [
    ["--user", "qa", "status", "SOP-001"],
    ["--user", "qa", "read", "SOP-001"],
    ["--user", "qa", "history", "SOP-001"],
    ["--user", "qa", "inbox"],
    ["--user", "qa", "comments", "SOP-001"],
    ["--user", "qa", "workspace"],
])
def test_read_commands_never_import_cryptography(project, args):
    """Signing and verification load ``cryptography`` (and the chain code); reading never
    does."""
    probe = PROBE.format(heavy=("cryptography", "nacl", "qms.store.chain", "qms.store.keys",
                                "webauthn", "cbor2", "qms.operations.identity.passkeys"))
    run = subprocess.run([sys.executable, "-c", probe, *args], cwd=project,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


@pytest.mark.req("REQ-INTEG-007")
def test_the_probe_sees_cryptography_when_a_command_signs(project):
    probe = PROBE.format(heavy=("cryptography",))
    run = subprocess.run([sys.executable, "-c", probe, "--user", "claude", "create", "CR",
                          "--title", "x"], cwd=project, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 99 and "cryptography" in run.stderr
