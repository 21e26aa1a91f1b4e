"""``qms qualify``: real CLI runs on projects with an effective RS and hand-made JUnit files."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

req = pytest.mark.req

RS_BODY = """# SDLC-APP-RS: App requirements

| REQ ID | Requirement |
|--------|-------------|
| REQ-APP-001 | **Start.** The app shall start. |
| REQ-APP-002 | **Stop.** The app shall stop. |
| REQ-APP-003 | **Fail.** A failing requirement. |
| REQ-APP-004 | **Skip.** Only skipped tests. |
| REQ-APP-005 | **Error.** A test that errors. |
| REQ-APP-006 | **None.** No test at all. |

```
| REQ-APP-999 | inside a code block: not a requirement |
```
"""

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" tests="8">
<testcase classname="tests.test_app" name="test_start">
  <properties><property name="req" value="REQ-APP-001"/><property name="other" value="x"/></properties>
</testcase>
<testcase classname="tests.test_app" name="test_stop[REQ-APP-002]"/>
<testcase classname="tests.REQ-APP-002.suite" name="test_stop_again"/>
<testcase classname="tests.test_app" name="test_fail">
  <properties><property name="req" value="REQ-APP-003"/></properties>
  <failure message="boom">assert False</failure>
</testcase>
<testcase classname="tests.test_app" name="test_fail_but_other_passes">
  <properties><property name="req" value="REQ-APP-003"/></properties>
</testcase>
<testcase classname="tests.test_app" name="test_skip">
  <properties><property name="req" value="REQ-APP-004"/></properties>
  <skipped message="no"/>
</testcase>
<testcase classname="tests.test_app" name="test_error">
  <properties><property name="req" value="REQ-APP-005"/></properties>
  <error message="fixture"/>
</testcase>
<testcase classname="tests.test_app" name="test_unknown">
  <properties><property name="req" value="REQ-APP-077"/></properties>
</testcase>
<testcase classname="tests.test_app" name="test_untraced"/>
</testsuite></testsuites>
"""

ALL_PASS = """<testsuite name="s">
""" + "".join(f'<testcase classname="t" name="test_{n}"><properties><property name="req" '
              f'value="REQ-APP-00{n}"/></properties></testcase>\n' for n in range(1, 7)) + \
    "</testsuite>\n"


@pytest.fixture
def app(q):
    """A project whose SDLC-APP-RS v1.0 is EFFECTIVE, with JUnit files in results/."""
    q.ok("lead", "namespace", "add", "APP")
    q.create("APP-RS", "App requirements")
    q.edit("SDLC-APP-RS", RS_BODY, title="App requirements")
    q.review_and_approve("SDLC-APP-RS")
    assert q.status("SDLC-APP-RS") == "EFFECTIVE"
    results = q.root / "results"
    results.mkdir()
    (results / "junit.xml").write_text(JUNIT)
    (results / "pass.xml").write_text(ALL_PASS)
    return q


def verdicts(result: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in result["requirements"]}


@req("REQ-QUAL-001")
@req("REQ-QUAL-002")
@req("REQ-QUAL-003")
@req("REQ-QUAL-004")
def test_check_reports_every_verdict_and_writes_nothing(app, digest):
    before = digest(app.root)
    run = app("qa", "--json", "qualify", "app", "--check",
              "--junit", "results/junit.xml")
    assert run.code == 1, run.err
    result = json.loads(run.out)["result"]
    assert verdicts(result) == {
        "REQ-APP-001": "verified", "REQ-APP-002": "verified", "REQ-APP-003": "failing",
        "REQ-APP-004": "untested", "REQ-APP-005": "failing", "REQ-APP-006": "untested"}
    by_id = {r["id"]: r for r in result["requirements"]}
    assert [t["name"] for t in by_id["REQ-APP-002"]["tests"]] == [
        "tests.test_app::test_stop[REQ-APP-002]", "tests.REQ-APP-002.suite::test_stop_again"]
    assert {t["outcome"] for t in by_id["REQ-APP-003"]["tests"]} == {"failed", "passed"}
    assert by_id["REQ-APP-004"]["tests"][0]["outcome"] == "skipped"
    assert by_id["REQ-APP-005"]["tests"][0]["outcome"] == "error"
    assert [u["id"] for u in result["unknown"]] == ["REQ-APP-077"]
    assert result["summary"] == {"requirements": 6, "verified": 2, "failing": 2, "untested": 2,
                                 "unknown": 1, "tests": 9, "traced_tests": 8}
    assert result["passed"] is False and len(result["gaps"]) == 5
    assert digest(app.root) == before  # --check writes nothing
    assert not (app.root / ".qms" / "journal.json").exists()

    text = app("qa", "qualify", "APP", "--check", "--junit", "results/junit.xml")
    assert text.code == 1
    for line in ("FAILING   REQ-APP-003: tests.test_app::test_fail",
                 "FAILING   REQ-APP-005: tests.test_app::test_error",
                 "UNTESTED  REQ-APP-004: only skipped tests: tests.test_app::test_skip",
                 "UNTESTED  REQ-APP-006: no test", "UNKNOWN   REQ-APP-077"):
        assert line in text.out, text.out
    passing = app.ok("qa", "qualify", "APP", "--check", "--junit", "results/pass.xml")
    assert "No gaps." in passing.out


@req("REQ-QUAL-003")
@req("REQ-QUAL-004")
def test_several_junit_files_combine(app):
    run = app("qa", "--json", "qualify", "APP", "--check", "--junit", "results/pass.xml",
              "--junit", "results/junit.xml")
    result = json.loads(run.out)["result"]
    assert run.code == 1  # the failures and the unknown ID in the second file still count
    assert verdicts(result)["REQ-APP-006"] == "verified"
    assert verdicts(result)["REQ-APP-003"] == "failing"
    assert len(result["evidence"]) == 2


@req("REQ-QUAL-005")
@req("REQ-QUAL-006")
def test_write_creates_the_rtm_with_evidence_and_audit(app, consistent):
    run = app.ok("claude", "--json", "qualify", "APP", "--junit", "results/junit.xml")
    result = json.loads(run.out)["result"]
    assert result["rtm"] == {"doc_id": "SDLC-APP-RTM", "version": "0.1", "status": "DRAFT"}
    sha = hashlib.sha256((app.root / "results" / "junit.xml").read_bytes()).hexdigest()
    stored = app.root / "QMS" / ".evidence" / f"{sha}.xml"
    assert stored.read_bytes() == (app.root / "results" / "junit.xml").read_bytes()
    assert result["evidence"] == [{"file": "results/junit.xml", "sha256": sha, "tests": 9,
                                   "stored_as": f"QMS/.evidence/{sha}.xml"}]

    text = app.draft("SDLC-APP-RTM").read_text()
    assert "| REQ-APP-001 | verified | `tests.test_app::test_start` (passed) |" in text
    assert "| REQ-APP-003 | failing |" in text and "`tests.test_app::test_fail` (failed)" in text
    assert "| REQ-APP-004 | untested | `tests.test_app::test_skip` (skipped) |" in text
    assert "| REQ-APP-006 | untested | no test |" in text
    assert "| REQ-APP-077 | `tests.test_app::test_unknown` (passed) |" in text
    assert f"| `results/junit.xml` | `{sha}` | `QMS/.evidence/{sha}.xml` | 9 |" in text
    assert "- Run by: claude" in text and "- Source revision:" in text
    assert not app.meta("SDLC-APP-RTM")["checked_out"]  # checked in, ready to route

    events = app.audit("SDLC-APP-RTM")
    assert [e["event"] for e in events] == ["CREATE", "CHECKOUT", "CHECKIN", "QUALIFY"]
    qual = events[-1]
    assert qual["evidence"] == [{"file": "results/junit.xml", "sha256": sha}]
    assert qual["rs"] == {"doc_id": "SDLC-APP-RS", "version": "1.0"}
    assert qual["summary"]["failing"] == 2
    consistent(app, "SDLC-APP-RTM")

    # the RTM goes through review and approval like any document
    app.review_and_approve("SDLC-APP-RTM")
    assert app.status("SDLC-APP-RTM") == "EFFECTIVE"


@req("REQ-QUAL-005")
def test_requalify_replaces_only_the_generated_section(app):
    app.ok("claude", "qualify", "APP", "--junit", "results/junit.xml")
    app.review_and_approve("SDLC-APP-RTM")
    # an author adds text around the generated section in a revision
    app.ok("claude", "checkout", "SDLC-APP-RTM")
    ws = app.workspace_file("claude", "SDLC-APP-RTM")
    ws.write_text(ws.read_text().replace("<!-- qms-qualify:begin",
                                         "Hand-written scope.\n\n<!-- qms-qualify:begin")
                  + "\nHand-written closing note.\n")
    app.ok("claude", "checkin", "SDLC-APP-RTM")
    run = app.ok("claude", "--json", "qualify", "APP", "--junit", "results/pass.xml")
    assert json.loads(run.out)["result"]["rtm"]["version"] == "1.1"
    text = app.draft("SDLC-APP-RTM").read_text()
    assert "Hand-written scope." in text and "Hand-written closing note." in text
    assert text.count("<!-- qms-qualify:begin") == 1
    assert "| REQ-APP-006 | verified |" in text and "| failing |" not in text
    assert app.status("SDLC-APP-RTM") == "DRAFT"
    effective = app.effective("SDLC-APP-RTM").read_text()
    assert "| REQ-APP-003 | failing |" in effective  # v1.0 stays in force until approved


@req("REQ-QUAL-005")
def test_rtm_held_by_someone_else_is_refused_and_nothing_changes(app, digest):
    app.ok("claude", "qualify", "APP", "--junit", "results/junit.xml")
    app.ok("lead", "checkout", "SDLC-APP-RTM")
    before = digest(app.root)
    app.fail("claude", "qualify", "APP", "--junit", "results/pass.xml",
             match="checked out by lead")
    assert digest(app.root) == before
    # the holder may qualify: their checkout is reused
    app.ok("lead", "qualify", "APP", "--junit", "results/pass.xml")
    assert app.events("SDLC-APP-RTM")[-2:] == ["CHECKIN", "QUALIFY"]


@req("REQ-QUAL-002")
@pytest.mark.parametrize("content, match", [
    ("<testsuite><testcase name='x'>", "malformed XML"),
    ("not xml at all", "malformed XML"),
    ("<html><body/></html>", "not a JUnit XML report"),
    ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
     "<testsuite><testcase name='&lol2;'/></testsuite>", "DOCTYPE or ENTITY"),
    ('<!DOCTYPE x SYSTEM "file:///etc/passwd"><testsuite/>', "DOCTYPE or ENTITY"),
    ("", "malformed XML"),
])
def test_bad_junit_is_refused_and_nothing_is_written(app, digest, content, match):
    (app.root / "results" / "bad.xml").write_text(content)
    before = digest(app.root)
    app.fail("claude", "qualify", "APP", "--junit", "results/pass.xml", "--junit",
             "results/bad.xml", match=match)
    assert digest(app.root) == before


@req("REQ-QUAL-001")
@req("REQ-QUAL-002")
def test_clear_errors_change_nothing(app, q, digest, tmp_path):
    before = digest(app.root)
    app.fail("claude", "qualify", "APP", "--junit", "results/missing.xml", match="not found")
    app.fail("claude", "qualify", "NOPE", "--junit", "results/pass.xml",
             match="Unknown SDLC namespace NOPE")
    app.fail("claude", "qualify", "bad ns!", "--junit", "results/pass.xml",
             match="Invalid namespace")
    outside = tmp_path / "outside.xml"
    outside.write_text(ALL_PASS)
    app.fail("claude", "qualify", "APP", "--junit", str(outside), match="outside the project")
    app.fail("qa", "qualify", "APP", "--junit", "results/pass.xml", match="Permission denied")
    app.fail("nobody", "qualify", "APP", "--check", "--junit", "results/pass.xml")
    app.fail("claude", "qualify", "APP", code=2, match="--junit")
    assert digest(app.root) == before
    # an RS that does not exist, and one that was never effective
    app.ok("lead", "namespace", "add", "NEW")
    after_add = digest(app.root)
    app.fail("claude", "qualify", "NEW", "--junit", "results/pass.xml",
             match="SDLC-NEW-RS does not exist")
    assert digest(app.root) == after_add
    app.create("NEW-RS", "Draft only")
    after_create = digest(app.root)
    app.fail("claude", "qualify", "NEW", "--junit", "results/pass.xml",
             match="never been effective")
    assert digest(app.root) == after_create


@req("REQ-QUAL-001")
def test_rs_without_requirement_rows_is_refused(q):
    q.ok("lead", "namespace", "add", "EMPTY")
    q.create("EMPTY-RS", "Nothing")
    q.edit("SDLC-EMPTY-RS", "# Nothing\n\n| ID | Text |\n|---|---|\n| SEC-1 | no REQ id |")
    q.review_and_approve("SDLC-EMPTY-RS")
    (q.root / "r.xml").write_text(ALL_PASS)
    q.fail("claude", "qualify", "EMPTY", "--check", "--junit", "r.xml",
           match="states no requirements")


@req("REQ-QUAL-006", "REQ-CODE-013")
def test_evidence_records_the_git_commit_and_its_tree_and_refuses_a_dirty_tree(app):
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=app.root, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    head, tree = git("rev-parse", "HEAD"), git("rev-parse", "HEAD^{tree}")
    clean = app.json("claude", "qualify", "APP", "--junit", "results/pass.xml")["result"]
    assert (clean["commit"], clean["tree"], clean["dirty"]) == (head, tree, False)
    assert f"git commit `{head}` (tree `{tree}`, working tree clean)" in \
        app.draft("SDLC-APP-RTM").read_text()
    assert (app.audit("SDLC-APP-RTM")[-1]["commit"], app.audit("SDLC-APP-RTM")[-1]["tree"]) \
        == (head, tree)
    # the qualification itself changed QMS/ (qms's own data): that is no change of the code
    again = app.json("claude", "qualify", "APP", "--junit", "results/junit.xml")["result"]
    assert again["commit"] == head
    # a change of anything else is: the tests did not run on a commit
    (app.root / "app.py").write_text("print('changed')\n")
    before = len(app.audit("SDLC-APP-RTM"))
    app.fail("claude", "qualify", "APP", "--junit", "results/pass.xml",
             match="has changes outside qms's own data ('app.py')")
    assert len(app.audit("SDLC-APP-RTM")) == before


PLUGIN_TESTS = '''
import pytest

pytestmark = pytest.mark.req("REQ-APP-001")


@pytest.mark.req("REQ-APP-002", "REQ-APP-003")
def test_marked():
    pass


@pytest.mark.parametrize("n", [pytest.param(4, marks=pytest.mark.req("REQ-APP-004")),
                               pytest.param(5, marks=pytest.mark.req("REQ-APP-005"))])
def test_param(n):
    assert n == 4


@pytest.mark.skip(reason="not here")
@pytest.mark.req("REQ-APP-006")
def test_skipped():
    pass


def test_unmarked_module_level_only():
    pass
'''


def run_pytest(folder, *args: str) -> subprocess.CompletedProcess:
    """A real pytest session in ``folder`` (its own empty ini: nothing of ours leaks in)."""
    import os
    import sys

    (folder / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True, timeout=120, env=env)


@req("REQ-QUAL-007")
def test_plugin_records_req_properties_in_a_real_pytest_run(app, tmp_path):
    from xml.etree import ElementTree as ET

    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_app.py").write_text(PLUGIN_TESTS)
    out = app.root / "results" / "run.xml"
    run = run_pytest(suite, "--strict-markers", f"--junitxml={out}")
    assert run.returncode == 1, run.stdout + run.stderr  # test_param[5] fails on purpose
    props = {c.get("name"): [p.get("value") for p in c.iter("property") if p.get("name") == "req"]
             for c in ET.parse(out).getroot().iter("testcase")}
    assert props == {"test_marked": ["REQ-APP-002", "REQ-APP-003", "REQ-APP-001"],
                     "test_param[4]": ["REQ-APP-004", "REQ-APP-001"],
                     "test_param[5]": ["REQ-APP-005", "REQ-APP-001"],
                     "test_skipped": ["REQ-APP-006", "REQ-APP-001"],
                     "test_unmarked_module_level_only": ["REQ-APP-001"]}
    assert "record_property is incompatible" not in run.stdout  # no warning on xunit2

    result = app.json("qa", "qualify", "APP", "--check", "--junit", "results/run.xml")["result"]
    assert verdicts(result) == {
        "REQ-APP-001": "failing", "REQ-APP-002": "verified", "REQ-APP-003": "verified",
        "REQ-APP-004": "verified", "REQ-APP-005": "failing", "REQ-APP-006": "untested"}


@req("REQ-QUAL-007")
def test_plugin_leaves_sessions_without_the_marker_alone(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_plain(record_property):\n"
                                           "    record_property('k', 'v')\n")
    out = tmp_path / "plain.xml"
    run = run_pytest(tmp_path, "-q", f"--junitxml={out}")
    assert run.returncode == 0, run.stdout + run.stderr
    xml = out.read_text()
    assert '<property name="k" value="v"' in xml and 'name="req"' not in xml
    markers = run_pytest(tmp_path, "--markers")
    assert "@pytest.mark.req(*ids)" in markers.stdout  # registered by the entry point
