"""The real `qms-mcp --auth required` accepts only tokens the signed trail vouches for: a record
planted in `.qms/tokens.json`, a revocation undone by hand, or an unsigned TOKEN_ISSUE line
appended to the project trail does not authenticate."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from _mcp_support import QMS_CLI

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PING = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
JSON = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
FORGED = "qms_0badf00d_" + "C" * 43


def issue(root: Path, user: str) -> str:
    run = subprocess.run([QMS_CLI, "--json", "--user", "lead", "token", "issue", user], cwd=root,
                         capture_output=True, text=True, timeout=60)
    return json.loads(run.stdout)["result"]["token"]


def ping(served, token: str) -> int:
    request = urllib.request.Request(f"{served.base}/mcp", data=PING,
                                     headers={**JSON, "Authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def edit_store(root: Path, change) -> None:
    path = root / ".qms" / "tokens.json"
    data = json.loads(path.read_text())
    change(data["tokens"])
    path.write_text(json.dumps(data))


def planted(tokens: list) -> None:
    from qms.store.tokens import digest

    tokens.append({"id": "0badf00d", "user": "lead", "label": "", "hash": digest(FORGED),
                   "created": "2026-01-01T00:00:00+00:00", "created_by": "lead",
                   "expires": None, "revoked": None})


@pytest.mark.req("REQ-AUTH-013")
def test_server_refuses_planted_unrevoked_and_unsigned_tokens(serve, project):
    from qms.store.tokens import digest

    qa, claude = issue(project, "qa"), issue(project, "claude")
    served = serve("streamable-http", "--auth", "required")
    assert ping(served, qa) == 200 and ping(served, claude) == 200
    edit_store(project, planted)
    assert ping(served, FORGED) == 401
    assert ping(served, qa) == 200  # the store changed; vouched tokens still work
    # an unsigned TOKEN_ISSUE appended by hand vouches for nothing
    trail = project / "QMS/.audit/project.jsonl"
    last = json.loads(trail.read_text().splitlines()[-1])
    with trail.open("a") as f:
        f.write(json.dumps({"ts": last["ts"], "event": "TOKEN_ISSUE", "user": "lead",
                            "token_id": "0badf00d", "for_user": "lead", "label": "",
                            "expires": None, "token_sha256": digest(FORGED),
                            "prev_sha256": "0" * 64, "seq": last["seq"] + 1}) + "\n")
    assert ping(served, FORGED) == 401
    # revoked with the CLI, then "un-revoked" in the file: still refused
    claude_id = claude.split("_")[1]
    subprocess.run([QMS_CLI, "--user", "lead", "token", "revoke", claude_id], cwd=project,
                   check=True, capture_output=True, timeout=60)
    assert ping(served, claude) == 401

    def unrevoke(tokens: list) -> None:
        for t in tokens:
            if t["id"] == claude_id:
                t["revoked"] = None

    edit_store(project, unrevoke)
    assert ping(served, claude) == 401
    assert ping(served, qa) == 200
