#!/usr/bin/env bash
# Take qualification/requirements.md through the qms workflow as the next version of
# SDLC-QMS-RS in the qualification project (qualification/), with the qms CLI, so every
# step is in the audit trail: checkout (or create, the first time), copy the file into the
# draft, checkin, route for review, review, route for approval, approve -> EFFECTIVE.
#
#   bash scripts/revise-rs.sh "REQ-XYZ-001..004 added (issue 42)"
#
# Environment: QMS_AUTHOR (default claude), QMS_REVIEWER (default qa: reviews and
# approves), QMS_REVIEW_COMMENT (default: a comment naming the summary).
# Edit qualification/requirements.md first; the summary becomes its revision_summary.
set -euo pipefail
cd "$(dirname "$0")/.."
summary="${1:?usage: bash scripts/revise-rs.sh \"revision summary\"}"
author="${QMS_AUTHOR:-claude}"
reviewer="${QMS_REVIEWER:-qa}"
comment="${QMS_REVIEW_COMMENT:-Requirements reviewed against the source table: $summary}"
source_file=qualification/requirements.md
doc=SDLC-QMS-RS

bash scripts/setup.sh
qms=("$PWD/.venv/bin/qms")
export QMS_PROJECT_ROOT="$PWD/qualification"
if [ ! -d qualification/QMS ]; then
  mkdir -p qualification
  "${qms[@]}" init --root qualification --yes
  "${qms[@]}" --user lead namespace add QMS
fi

# The project's private signing key is never committed (docs/integrity.md): the team holds
# it in ../shared/keys/qualification/ (installed here when present). Without it qms refuses
# every change: say how to go on instead of failing half-way.
bash scripts/team-key.sh
if compgen -G "qualification/QMS/.keys/*.pub" >/dev/null \
    && ! compgen -G "qualification/.qms/keys/*.key" >/dev/null; then
  echo "revise-rs: this clone has no private signing key for qualification/ (it is never" >&2
  echo "committed). Put the team's key in ../shared/keys/qualification/ (../shared/keys/README.md)" >&2
  echo "or copy qualification/.qms/keys/ from a machine that holds it; only if the key is lost," >&2
  echo "import a new one: QMS_PROJECT_ROOT=qualification .venv/bin/qms --user lead key import FILE" >&2
  echo "(qms verify then reports the new key as not endorsed by the previous one)." >&2
  exit 1
fi

if "${qms[@]}" --user "$author" status "$doc" >/dev/null 2>&1; then
  "${qms[@]}" --user "$author" checkout "$doc"
else
  "${qms[@]}" --user "$author" create QMS-RS --title "qms Requirements Specification"
fi
workspace="qualification/.claude/users/$author/workspace/$doc.md"
.venv/bin/python - "$source_file" "$workspace" "$summary" <<'EOF'
import sys
import yaml
source, workspace, summary = sys.argv[1:]
text = open(source, encoding="utf-8").read()
_, front, body = text.split("---\n", 2)
fields = yaml.safe_load(front)
fields["revision_summary"] = summary
out = "---\n" + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True) + "---\n" + body
open(workspace, "w", encoding="utf-8").write(out)
EOF
"${qms[@]}" --user "$author" checkin "$doc"
"${qms[@]}" --user "$author" route "$doc" --review --assign "$reviewer"
"${qms[@]}" --user "$reviewer" review "$doc" --recommend --comment "$comment"
"${qms[@]}" --user "$author" route "$doc" --approval --assign "$reviewer"
"${qms[@]}" --user "$reviewer" approve "$doc"
"${qms[@]}" --user "$author" status "$doc"
