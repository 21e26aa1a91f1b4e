#!/usr/bin/env bash
# Create .venv (if needed) and install qms with its test dependencies, editable.
# pip's output is kept in .venv/setup.log and shown only if the install fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
# `qms export` typesets PDFs with Typst (a self-contained wheel) in DejaVu Sans when the font
# is installed (else in Typst's own fonts); its tests read the PDFs back with poppler-utils.
# Installed when missing and we can (root, apt); otherwise the export tests skip with the reason.
PDF_DEBS="fonts-dejavu-core poppler-utils"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    && command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for deb in $PDF_DEBS; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" \
      || missing="$missing $deb"
  done
  if [ -n "$missing" ]; then
    apt_log="${TMPDIR:-/tmp}/qms-setup-apt.log"
    if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing; } \
        >"$apt_log" 2>&1; then
      echo "installed$missing (PDF export)"
    else
      echo "could not install$missing (PDF export tests will skip): see $apt_log" >&2
    fi
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
log=.venv/setup.log
if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".[test]" >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup failed: see $log" >&2
  exit 1
fi
