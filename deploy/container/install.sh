#!/bin/sh
# Runs inside `docker build` (deploy/container/Dockerfile), as root, with the build arguments in
# the environment. Installs the missing Debian packages, Claude Code (unless
# INSTALL_CLAUDE_CODE=0), qms into the venv /opt/qms (from /tmp/kit/wheels when staged, with no
# network), the MCP configuration and the agent user.
set -eu

if [ -n "${EXTRA_CA_CERTS:-}" ]; then  # build-time trust only: removed with /tmp/kit
  printf '%s\n' "$EXTRA_CA_CERTS" > /tmp/kit/extra-ca.pem
  cat /etc/ssl/certs/ca-certificates.crt /tmp/kit/extra-ca.pem > /tmp/kit/ca-bundle.pem 2>/dev/null \
    || cp /tmp/kit/extra-ca.pem /tmp/kit/ca-bundle.pem
  export PIP_CERT=/tmp/kit/ca-bundle.pem NODE_EXTRA_CA_CERTS=/tmp/kit/extra-ca.pem
  APT_CA="-o Acquire::https::CAInfo=/tmp/kit/ca-bundle.pem"
fi

packages="ca-certificates git"
[ "${INSTALL_CLAUDE_CODE:-1}" = 1 ] && packages="$packages nodejs npm"
missing=""
for package in $packages; do
  dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || missing="$missing $package"
done
if [ -n "$missing" ]; then  # a base image that has them all needs no network here
  apt-get ${APT_CA:-} update
  DEBIAN_FRONTEND=noninteractive apt-get ${APT_CA:-} install -y --no-install-recommends $missing
  rm -rf /var/lib/apt/lists/*
fi

if [ "${INSTALL_CLAUDE_CODE:-1}" = 1 ]; then
  npm install -g "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION:-latest}"
  npm cache clean --force
fi

python3 -m venv /opt/qms
if ls /tmp/kit/wheels/qms-*.whl >/dev/null 2>&1; then
  /opt/qms/bin/pip install --no-cache-dir --no-index --find-links /tmp/kit/wheels qms
else  # no staged wheels: qms from source, its dependencies from the package index
  /opt/qms/bin/pip install --no-cache-dir /tmp/qms
fi
mkdir -p /etc/qms
cp /tmp/kit/.mcp.json /etc/qms/mcp.json

if [ "${AGENT_UID:-1000}" = 0 ] || [ "${AGENT_GID:-1000}" = 0 ]; then
  echo "AGENT_UID/AGENT_GID 0 would run the agent as root: pass the uid and gid of the" \
       "project's (non-root) owner" >&2
  exit 1
fi
getent group "$AGENT_GID" >/dev/null || groupadd --gid "$AGENT_GID" agent
useradd --uid "$AGENT_UID" --gid "$AGENT_GID" --create-home --shell /bin/bash agent
# /work: where the agent clones its CR's branch over http://host.docker.internal:8000/git/ and
# pushes back (a writable volume in compose.yaml; /project stays read-only). git's identity
# and the token header come from the agent's own clone config (docs/code-control.md).
mkdir -p /work
chown "$AGENT_UID:$AGENT_GID" /work
