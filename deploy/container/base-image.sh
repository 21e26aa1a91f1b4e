#!/usr/bin/env bash
# Build a Debian bookworm base image for the agent image without any image registry, from
# Debian's own packages (mmdebstrap, as root; about a minute, about 260 MB). Kept when it exists.
#   deploy/container/base-image.sh [NAME]     (default local/qms-bookworm-base)
# Then: deploy/container/build.sh --base NAME ...
set -euo pipefail
name=${1:-local/qms-bookworm-base}
if docker image inspect "$name" >/dev/null 2>&1; then
  echo "base image $name exists: reused"; exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap missing: apt-get install -y mmdebstrap" >&2; exit 1; }
# python3 + venv for qms, git and ca-certificates for the agent: the agent image then installs
# no Debian package (INSTALL_CLAUDE_CODE=0) and its build needs no network at all.
mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates,git bookworm - \
  | docker import -c 'CMD ["/bin/bash"]' - "$name" >/dev/null
echo "base image $name built"
