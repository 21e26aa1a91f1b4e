#!/usr/bin/env bash
# The main job: set up, create a demo project (if absent) and serve it with the MCP server
# on http://127.0.0.1:8000/mcp and its web dashboard on http://127.0.0.1:8000/, with the
# qms CLI ready (.venv/bin/qms).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
DEMO="${QMS_DEMO_DIR:-$PWD/demo-project}"
PORT="${QMS_PORT:-8000}"
if [ ! -d "$DEMO/QMS" ]; then
  mkdir -p "$DEMO"
  qms init --root "$DEMO" --yes >/dev/null
  (
    cd "$DEMO"
    git init -q 2>/dev/null || true
    approved() {  # one review round and one approval round by qa: approved(ID, comment)
      qms --user claude route "$1" --review >/dev/null
      qms --user qa review "$1" --recommend --comment "$2" >/dev/null
      qms --user claude route "$1" --approval >/dev/null
      qms --user qa approve "$1" >/dev/null
    }
    qms --user claude create SOP --title "Demo procedure" >/dev/null
    approved SOP-008 "Clear and complete."
    # a second version of SOP-008, in review: the dashboard shows it waiting on qa, and the
    # document page a diff between v1.0 (in force) and the v1.1 draft
    qms --user claude checkout SOP-008 >/dev/null
    ws=.claude/users/claude/workspace
    sed -i 's/^revision_summary:.*/revision_summary: Add a records section/' $ws/SOP-008.md
    printf '\n## Records\n\nEvery approval is recorded in the audit trail and kept for five years.\n' \
      >>$ws/SOP-008.md
    qms --user claude route SOP-008 --review >/dev/null
    qms --user claude create CR --title "Demo change" >/dev/null
    qms --user claude route CR-001 --review >/dev/null
    qms --user claude create CR --title "Add a login page" >/dev/null
    approved CR-002 "Plan is sound."
    qms --user claude release CR-002 >/dev/null
    qms --user claude checkout CR-002 >/dev/null
    qms --user claude create INV --title "Login outage on staging" >/dev/null
    qms --user lead namespace add DEMO >/dev/null
    qms --user claude create DEMO-RS --title "Demo requirements" >/dev/null
    printf -- '---\ntitle: Demo requirements\nrevision_summary: Initial draft\n---\n\n%s\n' \
      '# SDLC-DEMO-RS: Demo requirements' '' '| REQ ID | Requirement |' '|---|---|' \
      '| REQ-DEMO-001 | **Sign-in**: users sign in with a password |' \
      '| REQ-DEMO-002 | **Lockout**: five failed attempts lock the account |' >$ws/SDLC-DEMO-RS.md
    qms --user claude checkin SDLC-DEMO-RS >/dev/null
    qms --user claude create DEMO-RTM --title "Demo traceability" >/dev/null
    printf -- '---\ntitle: Demo traceability\nrevision_summary: Initial draft\n---\n\n%s\n' \
      '| REQ ID | Test | Verdict |' '|---|---|---|' \
      '| REQ-DEMO-001 | tests/test_login.py::test_sign_in | PASS |' >$ws/SDLC-DEMO-RTM.md
    qms --user claude checkin SDLC-DEMO-RTM >/dev/null
  )
  echo "Created demo project in $DEMO"
fi
cd "$DEMO"
echo
echo "== qms --user claude status SOP-008"; qms --user claude status SOP-008
echo
echo "== qms --user qa inbox"; qms --user qa inbox
echo
echo "Dashboard: http://127.0.0.1:$PORT/   <- open this in a browser (read-only pages)"
echo
echo "CLI:    export PATH=\"$(cd "$OLDPWD" && pwd)/.venv/bin:\$PATH\"; cd $DEMO; qms --user claude workspace"
echo "Server: http://127.0.0.1:$PORT/mcp  (Claude Code: claude mcp add --transport http qms http://127.0.0.1:$PORT/mcp)"
echo "Stop with Ctrl-C."
exec qms-mcp --transport streamable-http --host 127.0.0.1 --port "$PORT" --project-root "$DEMO"
