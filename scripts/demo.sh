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
  bash scripts/demo/build.sh "$DEMO"   # the documents' text: scripts/demo/*.md
  echo "Created demo project in $DEMO"
fi
cd "$DEMO"
echo
echo "== qms --user claude status CR-001"; qms --user claude status CR-001
echo
echo "== qms --user qa inbox"; qms --user qa inbox
echo
echo "== git log --oneline --graph -6 main (code lands only through qms merge)"
git log --oneline --graph -6 main
echo
echo "== qms --user qa verify --code"; qms --user qa verify --code | sed -n 1p
echo
echo "Dashboard: http://127.0.0.1:$PORT/   <- open this in a browser (read-only pages);"
echo "           CR-003 and CR-004 show their branch, pushes, gate, merge and release"
echo
echo "CLI:    export PATH=\"$(cd "$OLDPWD" && pwd)/.venv/bin:\$PATH\"; cd $DEMO; qms --user claude workspace"
echo "Server: http://127.0.0.1:$PORT/mcp  (Claude Code: claude mcp add --transport http qms http://127.0.0.1:$PORT/mcp)"
echo "Stop with Ctrl-C."
exec qms-mcp --transport streamable-http --host 127.0.0.1 --port "$PORT" --project-root "$DEMO"
