#!/usr/bin/env bash
# Build the agent image from this repository (see docs/containers.md).
#   deploy/container/build.sh [--tag TAG] [--base IMAGE] [--no-claude-code] [--ca-file FILE]
#                             [--no-ca] [-- more docker build arguments]
# qms and its dependencies are built here as wheels (pip wheel) into deploy/container/wheels/,
# so the image build installs them without any package index. Extra CA certificates
# (TLS-intercepting networks) are passed as a build argument, never written into the
# repository: by default /usr/local/share/ca-certificates/*.crt when there are any.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=qms-agent:latest base="" claude=1 ca_files=() no_ca=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --no-claude-code) claude=0; shift ;;
    --ca-file) ca_files+=("$2"); shift 2 ;;
    --no-ca) no_ca=1; shift ;;
    --) shift; break ;;
    *) echo "build.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [ "$no_ca" = 0 ] && [ ${#ca_files[@]} = 0 ]; then
  shopt -s nullglob; ca_files=(/usr/local/share/ca-certificates/*.crt); shopt -u nullglob
fi
[ "$no_ca" = 1 ] && ca_files=()

# An image of this tag built from the same sources with the same arguments is reused.
args=(--build-arg "INSTALL_CLAUDE_CODE=$claude"
      --build-arg "AGENT_UID=${AGENT_UID:-1000}" --build-arg "AGENT_GID=${AGENT_GID:-1000}")
[ -n "$base" ] && args+=(--build-arg "BASE_IMAGE=$base")
[ ${#ca_files[@]} -gt 0 ] && args+=(--build-arg "EXTRA_CA_CERTS=$(cat "${ca_files[@]}")")
source_id=$( { find pyproject.toml README.md src deploy/container -type f ! -path '*/wheels/*' \
                 ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
               printf '%s\n' "${args[@]}" "$@"
               [ -n "$base" ] && docker image inspect --format '{{.Id}}' "$base"; } \
             | sha256sum | cut -c1-16)
if [ "$(docker image inspect --format '{{index .Config.Labels "qms.source"}}' "$tag" 2>/dev/null)" \
     = "$source_id" ]; then
  echo "image $tag is up to date (sources $source_id): reused"; exit 0
fi

py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
wheels=deploy/container/wheels
rm -rf "$wheels"
host_py=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
image_py="" from=${base:-python:3.11-slim-bookworm}
if docker image inspect "$from" >/dev/null 2>&1; then
  image_py=$(docker run --rm --network none --entrypoint python3 "$from" \
    -c 'import sys; print("%d.%d" % sys.version_info[:2])')
fi
if [ -z "$image_py" ] || [ "$image_py" = "$host_py" ]; then
  "$py" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheels" . \
    || { echo "build.sh: pip wheel failed; the image installs qms from source" >&2; rm -rf "$wheels"; }
else
  echo "build.sh: host Python $host_py is not the image's $image_py: no wheels staged, the" \
       "image installs qms from source with its package index" >&2
fi

previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
docker build --label "qms.source=$source_id" -f deploy/container/Dockerfile -t "$tag" "${args[@]}" "$@" .
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
  docker image rm "$previous" >/dev/null 2>&1 || true  # the image this build replaced, if unused
fi
