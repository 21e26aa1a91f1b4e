#!/usr/bin/env bash
# Install the team's signing key for qualification/ (../shared/keys/README.md) as that
# project's active key, so a new machine or CI run signs with it and never has to start a
# key of its own. Only a key the project's chain has introduced as its current key is
# installed (a key it does not know, or has since replaced, would sign what verify refuses);
# nothing is done when ../shared/keys/qualification/ is absent (a clone alone). The key is
# copied with mode 0600 into qualification/.qms/keys/ (git-ignored) and never printed.
#
#   bash scripts/team-key.sh        # QMS_TEAM_KEYS=DIR: take the key from DIR instead
set -euo pipefail
cd "$(dirname "$0")/.."
keys="${QMS_TEAM_KEYS:-../shared/keys/qualification}"
trail=qualification/QMS/.audit/project.jsonl
[ -d "$keys" ] && [ -f "$trail" ] || exit 0
# the chain's current key: the key_id of the project trail's last KEY_CREATE/KEY_ROTATE
current="$(grep -E '"event": "KEY_(CREATE|ROTATE)"' "$trail" | tail -n 1 \
  | sed -nE 's/.*"key_id": "([0-9a-f]+)".*/\1/p')"
for key in "$keys"/*.key; do
  [ -f "$key" ] || continue
  id="$(basename "$key" .key)"
  if [ "$id" != "$current" ]; then
    echo "team-key: $id is not qualification/'s current key (${current:-none}); not installed" >&2
    continue
  fi
  (umask 077
   mkdir -p qualification/.qms/keys
   chmod 700 qualification/.qms/keys
   install -m 600 "$key" "qualification/.qms/keys/$id.key"
   printf '%s\n' "$id" > qualification/.qms/keys/active)
  [ -f qualification/.qms/.gitignore ] || printf '*\n' > qualification/.qms/.gitignore
  echo "team-key: installed signing key $id for qualification/ (.qms/keys/, mode 0600)"
done
