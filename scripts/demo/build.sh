#!/usr/bin/env bash
# Build the demo project in DIR through the real qms CLI (called by scripts/demo.sh):
#   SOP-008 EFFECTIVE v1.0, its v1.1 revision waiting in review on qa (a diff to look at);
#   CR-001 taken through pre-approval, execution (with the VR CR-001-VR-001) and closure;
#   SDLC-AUTH-RS EFFECTIVE and SDLC-AUTH-RTM qualified from a real pytest run, EFFECTIVE;
#   INV-001 with two CAPAs, IN_EXECUTION; CR-002 (its CAPA-002) waiting in review on qa;
#   then code under change control: the demo app becomes system APP (requirements: AUTH),
#   CR-003 is executed as an agent would, in its code area (a push through the gate, the
#   tests, qualification at the pushed commit, qms gate, qms merge: release APP-1.0) and
#   closed; CR-004 waits at a push the gate refused (a path outside its scope).
# The documents' text is in this folder; the demo app and its tests in app/, CR-003's change
# in CR-003/.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEMO="$1"
mkdir -p "$DEMO"
cd "$DEMO"
git init -q -b main
git config user.name "Demo Team"
git config user.email "team@example.com"
qms init --yes >/dev/null
printf '__pycache__/\n' >.gitignore   # a test run leaves the tree clean (qualify checks it)
ws=.claude/users/claude/workspace
put() {  # put ID FILE: the workspace copy of ID becomes FILE (frontmatter included)
  cp "$HERE/$2" "$ws/$1.md"
}
reviewed() {  # reviewed ID COMMENT: a review round by qa, recommended
  qms --user claude route "$1" --review >/dev/null
  qms --user qa review "$1" --recommend --comment "$2" >/dev/null
}
approved() {  # approved ID REVIEW-COMMENT: a review round and an approval round by qa
  reviewed "$1" "$2"
  qms --user claude route "$1" --approval >/dev/null
  qms --user qa approve "$1" >/dev/null
}
row() {  # row ID EI CELLS: fill the execution row EI of ID's workspace copy
  python3 - "$ws/$1.md" "$2" "$3" <<'PY'
import sys
path, ei, cells = sys.argv[1:]
lines = open(path, encoding="utf-8").read().split("\n")
for i, line in enumerate(lines):
    if line.startswith(f"| {ei} |"):
        lines[i] = " | ".join(line.split(" | ")[:2] + [cells]) + " |"
open(path, "w", encoding="utf-8").write("\n".join(lines))
PY
}
commit() { git add -A >/dev/null && git commit -qm "$1" && git rev-parse --short HEAD; }
day=$(date -u +%F)
commit "Project set up with qms init" >/dev/null

# A procedure in force, and its revision in review (INV-001-CAPA-001).
qms --user claude create SOP --title "Production Deployment" >/dev/null
put SOP-008 SOP-008.md
approved SOP-008 "Steps are clear and each one leaves a record."

# The sign-in requirements, in force before the change that verifies them.
qms --user lead namespace add AUTH >/dev/null
qms --user claude create AUTH-RS --title "Sign-in Requirements" >/dev/null
put SDLC-AUTH-RS SDLC-AUTH-RS.md
approved SDLC-AUTH-RS "Each requirement is testable and has one meaning."

# CR-001: pre-approval, release, execution with a VR, post-approval, closure.
qms --user claude create CR --title "Lock accounts after repeated failed sign-ins" >/dev/null
put CR-001 CR-001.md
approved CR-001 "Scope, impact and verification plan are complete."
qms --user claude release CR-001 >/dev/null
base=$(commit "CR-001 released: pre-execution baseline")
mkdir -p app && cp -r "$HERE/app/." app/
impl=$(commit "CR-001: account lockout after five failed sign-ins")
qms --user claude create VR --parent CR-001 --title "Lockout through the sign-in service" \
  >/dev/null
vr=CR-001-VR-001
mkdir -p evidence
python3 - >evidence/lockout.txt <<'PY'
import sys
sys.path.insert(0, "app")
from auth.service import AuthService
svc = AuthService()
svc.register("ada", "correct horse battery staple")
print(">>> svc.register('ada', 'correct horse battery staple')")
for n in range(1, 6):
    print(f">>> svc.sign_in('ada', 'guess-{n}', now=0)\n{svc.sign_in('ada', f'guess-{n}', now=0)!r}")
print(">>> svc.sign_in('ada', 'correct horse battery staple', now=60)")
print(repr(svc.sign_in("ada", "correct horse battery staple", now=60)))
print(">>> svc.sign_in('ada', 'correct horse battery staple', now=901)")
print(repr(svc.sign_in("ada", "correct horse battery staple", now=901)))
PY
git add evidence >/dev/null
answer() { qms --user claude interact $vr --respond "$1" >/dev/null; }
answer "EI-3"
answer "Five failed sign-ins lock an account for 15 minutes, and the lock ends on time."
answer "Commit $impl of the demo project; Python 3; the AuthService of app/auth/service.py with one registered user, ada."
answer "Register ada, sign in five times with a wrong password, then with the right one at 60 s and at 901 s (evidence/lockout.txt lists the calls)."
answer "Five 'invalid credentials' answers; 'account locked' at 60 s; 'ok' at 901 s, after the 15-minute lock."
qms --user claude interact $vr --respond --file evidence/lockout.txt >/dev/null
answer "Pass"
answer "no"
answer "Pass"
answer "The lockout engages after the fifth failure, refuses the right password while locked and ends after 15 minutes, as REQ-AUTH-002 states."
qms --user claude checkin $vr >/dev/null

# The qualification run: the app's tests trace to SDLC-AUTH-RS into SDLC-AUTH-RTM, bound to
# the commit they ran on (the pytest plugin writes it into the JUnit file).
qualified=$(commit "CR-001: the VR and its evidence")
mkdir -p results
(cd app && python3 -m pytest -q -p no:cacheprovider --junitxml=../results/junit.xml) >/dev/null
qms --user claude qualify AUTH --junit results/junit.xml >/dev/null
approved SDLC-AUTH-RTM "Every requirement traces to a passing test of the stored run."

qms --user claude checkout CR-001 >/dev/null
final=$(commit "CR-001: post-execution baseline")
row CR-001 EI-1 "| Baseline commit $base | Pass | claude - $day"
row CR-001 EI-2 "| Lockout and five tests in commit $impl | Pass | claude - $day"
row CR-001 EI-3 "$vr | $vr records the lockout and its expiry | Pass | claude - $day"
row CR-001 EI-4 "| SDLC-AUTH-RTM EFFECTIVE: 3 of 3 requirements verified at $qualified | Pass | claude - $day"
row CR-001 EI-5 "| Final commit $final | Pass | claude - $day"
sed -i 's/^revision_summary:.*/revision_summary: Execution recorded/' "$ws/CR-001.md"
qms --user claude checkin CR-001 >/dev/null
approved CR-001 "Every EI passed with evidence; the VR and the RTM are in order."
qms --user claude close CR-001 >/dev/null

# INV-001 with its CAPAs, in execution; CAPA-001 revises SOP-008 (in review).
qms --user claude create INV --title "Staging sign-in outage after an unannounced deployment" \
  >/dev/null
put INV-001 INV-001.md
approved INV-001 "Root cause is supported by the timeline; both CAPAs address it."
qms --user claude release INV-001 >/dev/null
qms --user claude checkout SOP-008 >/dev/null
put SOP-008 SOP-008-v1.1.md
qms --user claude route SOP-008 --review >/dev/null

# CR-002 (INV-001-CAPA-002), waiting in review on qa.
qms --user claude create CR --title "Rate-limit the password reset endpoint" >/dev/null
put CR-002 CR-002.md
qms --user claude route CR-002 --review >/dev/null
commit "Records before code control" >/dev/null

# Code under change control: from here on main takes only qms merges and qms's own data.
records() {  # records MESSAGE: commit qms's own data only (never the code)
  git add QMS .claude qms.config.json >/dev/null && git commit -qm "$1"
}
qms --user lead system add APP --path app --namespace AUTH >/dev/null
records "System APP: the demo app under change control"
say() { printf '\n== %s\n' "$*"; }

# CR-003, executed as an agent would: in its code area.
qms --user claude create CR --title "Tell a locked-out user when to try again" >/dev/null
put CR-003 CR-003.md
approved CR-003 "Scope, impact and plan are complete; requirements stay as they are."
qms --user claude release CR-003 >/dev/null
area=$(qms --user claude --json code checkout CR-003 \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["path"])')
say "CR-003: change, commit and push in the code area ${area#"$DEMO"/}"
cp "$HERE/CR-003/service.py" "$area/app/auth/service.py"
cp "$HERE/CR-003/test_auth.py" "$area/app/tests/test_auth.py"
(cd "$area" && git commit -qam "Say when a locked account can try again" && git push -q 2>&1) \
  | sed 's/^remote: //'
say "CR-003: the tests at the pushed commit, qualified into SDLC-AUTH-RTM"
(cd "$area/app" && python3 -m pytest -q -p no:cacheprovider --junitxml=../results/junit.xml \
  | tail -1)
(cd "$area" && qms --user claude qualify AUTH --junit results/junit.xml | sed -n 1p)
approved SDLC-AUTH-RTM "Every requirement traces to a passing test at the CR-003 head."
say "qms --user claude gate CR-003"; qms --user claude gate CR-003
say "qms --user claude merge CR-003"; qms --user claude merge CR-003
git log --oneline -1 main
head=$(git rev-parse --short "cr/CR-003")
qms --user claude checkout CR-003 >/dev/null
row CR-003 EI-1 "Commit $head pushed to cr/CR-003 through the gate | Pass | claude - $day"
row CR-003 EI-2 "SDLC-AUTH-RTM v2.0 EFFECTIVE: qualified at $head, 3 of 3 verified | Pass | claude - $day"
row CR-003 EI-3 "Gate passed; merged into main as release APP-1.0 | Pass | claude - $day"
sed -i 's/^revision_summary:.*/revision_summary: Execution recorded/' "$ws/CR-003.md"
qms --user claude checkin CR-003 >/dev/null
approved CR-003 "Merged as APP-1.0 from the qualified head; every EI passed."
qms --user claude close CR-003 >/dev/null
records "CR-003 closed"

# CR-004: its executor changed a file outside the approved scope; the gate refused the push.
qms --user claude create CR --title "Record each account's last sign-in" >/dev/null
put CR-004 CR-004.md
approved CR-004 "A new module only; scope and plan are clear."
qms --user claude release CR-004 >/dev/null
area=$(qms --user claude --json code checkout CR-004 \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["path"])')
cat >"$area/app/auth/history.py" <<'PY'
"""The last successful sign-in of each account (CR-004)."""


class History:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def record(self, user: str, now: float) -> None:
        self._last[user] = now

    def last(self, user: str) -> float | None:
        return self._last.get(user)
PY
printf '\n# TODO(CR-004): call History.record here\n' >>"$area/app/auth/service.py"
say "CR-004: a push with a path outside the CR's scope"
(cd "$area" && git add -A && git commit -qm "History of sign-ins" \
  && { git push -q 2>&1 || true; }) | sed 's/^remote: //' | grep -E 'refused|rejected'
records "Demo project built"
qms --user qa verify >/dev/null   # the records, and the repository against them: clean
