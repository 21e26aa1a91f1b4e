#!/usr/bin/env bash
# CI's container tests (tests/containers, `pytest -m container`) under a real Docker engine.
#   bash scripts/ci-docker.sh [pytest arguments, e.g. --junitxml=FILE]
# As root with apt, installs what is missing (docker.io, docker-compose, mmdebstrap); starts
# dockerd unless an engine already answers (its pid kept, and that process alone stopped at
# exit); builds the base image once (reused while it exists), then runs the tests. Without an
# engine the tests skip with the reason. Only the tests' own --internal network and loopback
# are used. Exit status: pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=${TMPDIR:-/tmp}/qms-ci-docker
mkdir -p "$logs"
root=0; [ "$(id -u)" = 0 ] && root=1

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ] && [ "$root" = 1 ] && command -v apt-get >/dev/null; then
  if { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
      >"$logs/apt.log" 2>&1; then
    echo "installed ${missing[*]} for the container tests"
  else
    echo "could not install ${missing[*]} (container tests may skip): see $logs/apt.log"
  fi
fi

dockerd_pid=""
stop_dockerd() {
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill "$dockerd_pid"
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
    echo "stopped dockerd (pid $dockerd_pid)"
  fi
}
trap stop_dockerd EXIT
if ! docker info >/dev/null 2>&1 && [ "$root" = 1 ] && command -v dockerd >/dev/null; then
  dockerd >"$logs/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  echo "started dockerd (pid $dockerd_pid; log $logs/dockerd.log)"
fi

if docker info >/dev/null 2>&1; then
  start=$SECONDS
  bash deploy/container/base-image.sh "${QMS_CONTAINER_BASE_IMAGE:-local/qms-bookworm-base}" \
    || echo "no base image: the container tests will skip"
  echo "base image ready in $((SECONDS - start)) s"
fi
status=0
.venv/bin/python -m pytest -m container tests/containers "$@" || status=$?
exit "$status"
