#!/usr/bin/env bash
# Create .venv (if needed) and install qms with its test dependencies, editable.
# pip's output is kept in .venv/setup.log and shown only if the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
log=.venv/setup.log
if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".[test]" >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup failed: see $log" >&2
  exit 1
fi
