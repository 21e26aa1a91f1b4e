#!/usr/bin/env bash
# The main job: set up, create a demo project (if absent) and serve it with the MCP server
# on http://127.0.0.1:8000/mcp, with the qms CLI ready (.venv/bin/qms).
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
    qms --user claude create SOP --title "Demo procedure" >/dev/null
    qms --user claude route SOP-008 --review >/dev/null
    qms --user qa review SOP-008 --recommend --comment "Clear and complete." >/dev/null
    qms --user claude route SOP-008 --approval >/dev/null
    qms --user qa approve SOP-008 >/dev/null
    qms --user claude create CR --title "Demo change" >/dev/null
    qms --user claude route CR-001 --review >/dev/null
  )
  echo "Created demo project in $DEMO"
fi
cd "$DEMO"
echo
echo "== qms --user claude status SOP-008"; qms --user claude status SOP-008
echo
echo "== qms --user qa inbox"; qms --user qa inbox
echo
echo "CLI:    export PATH=\"$(cd "$OLDPWD" && pwd)/.venv/bin:\$PATH\"; cd $DEMO; qms --user claude workspace"
echo "Server: http://127.0.0.1:$PORT/mcp  (Claude Code: claude mcp add --transport http qms http://127.0.0.1:$PORT/mcp)"
echo "Stop with Ctrl-C."
exec qms-mcp --transport streamable-http --host 127.0.0.1 --port "$PORT" --project-root "$DEMO"
