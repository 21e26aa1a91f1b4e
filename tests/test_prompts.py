"""Prompt lookup, task-file rendering and the packaged seed content (templates, SOPs, agents)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import yaml

from qms.errors import NotFound, ProjectError, ValidationError
from qms.domain import prompts

RES = resources.files("qms") / "resources"

EXPECTED_PROMPT_FILES = [
    "approval/approval/default.yaml",
    "approval/default.yaml",
    "approval/post_approval/default.yaml",
    "approval/pre_approval/default.yaml",
    "review/default.yaml",
    "review/post_review/cr.yaml",
    "review/post_review/default.yaml",
    "review/pre_review/default.yaml",
    "review/review/default.yaml",
    "review/review/sop.yaml",
]
TEMPLATE_TYPES = ["ADD", "CR", "ER", "INV", "SOP", "TC", "TP", "VAR", "VR"]
FM_KEYS = ["task_id", "task_type", "workflow_type", "doc_id", "title", "status",
           "responsible_user", "assigned_by", "assigned_date", "version"]


def split_task(text: str) -> tuple[dict, str]:
    """Frontmatter mapping (parsed with yaml.safe_load) and body of a task file."""
    assert text.startswith("---\n")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end]), text[end + 5:]


def render(**overrides) -> str:
    args = dict(task_type="REVIEW", workflow_type="REVIEW", doc_id="SOP-001",
                title="Document Control", status="IN_REVIEW", responsible_user="claude",
                assigned_by="claude", assigned_date="2026-01-05", version="0.1", assignee="qa")
    args.update(overrides)
    return prompts.render_task(**args)


# --------------------------------------------------------------------------- lookup


@pytest.mark.req("REQ-PROMPT-003")
def test_lookup_candidates_most_specific_first():
    assert prompts.prompt_lookup_paths("REVIEW", "POST_REVIEW", "CR") == [
        "review/post_review/cr.yaml",
        "review/post_review/default.yaml",
        "review/default.yaml",
    ]
    assert prompts.prompt_lookup_paths("approval", "pre_approval", None) == [
        "approval/pre_approval/default.yaml",
        "approval/default.yaml",
    ]


@pytest.mark.req("REQ-PROMPT-003")
@pytest.mark.parametrize("task, workflow, doc_type, expected", [
    ("REVIEW", "POST_REVIEW", "CR", "review/post_review/cr.yaml"),
    ("review", "post_review", "cr", "review/post_review/cr.yaml"),
    ("REVIEW", "POST_REVIEW", "VAR", "review/post_review/default.yaml"),
    ("REVIEW", "POST_REVIEW", None, "review/post_review/default.yaml"),
    ("REVIEW", "REVIEW", "SOP", "review/review/sop.yaml"),
    ("REVIEW", "REVIEW", "TEMPLATE", "review/review/default.yaml"),
    ("REVIEW", "PRE_REVIEW", "CR", "review/pre_review/default.yaml"),
    ("APPROVAL", "APPROVAL", "SOP", "approval/approval/default.yaml"),
    ("APPROVAL", "PRE_APPROVAL", "CR", "approval/pre_approval/default.yaml"),
    ("APPROVAL", "POST_APPROVAL", "CR", "approval/post_approval/default.yaml"),
])
def test_resolve_packaged_prompt(task, workflow, doc_type, expected):
    assert prompts.resolve_prompt(task, workflow, doc_type) == expected


@pytest.mark.req("REQ-PROMPT-003")
def test_lookup_falls_back_to_task_default(monkeypatch):
    present = {"review/default.yaml"}
    monkeypatch.setattr(prompts, "_exists", lambda rel: rel in present)
    assert prompts.resolve_prompt("REVIEW", "POST_REVIEW", "CR") == "review/default.yaml"
    present.add("review/post_review/default.yaml")
    assert prompts.resolve_prompt("REVIEW", "POST_REVIEW", "CR") == "review/post_review/default.yaml"
    present.add("review/post_review/cr.yaml")
    assert prompts.resolve_prompt("REVIEW", "POST_REVIEW", "CR") == "review/post_review/cr.yaml"


def test_lookup_error_when_nothing_resolves(monkeypatch):
    monkeypatch.setattr(prompts, "_exists", lambda rel: False)
    with pytest.raises(NotFound):
        prompts.resolve_prompt("APPROVAL", "APPROVAL", "SOP")
    with pytest.raises(NotFound):
        render(task_type="APPROVAL", workflow_type="APPROVAL")


@pytest.mark.parametrize("task, workflow", [
    ("bogus", "REVIEW"), ("REVIEW", "APPROVAL"), ("APPROVAL", "POST_REVIEW"),
    ("REVIEW", "../review"), ("", ""),
])
def test_lookup_rejects_bad_task_or_workflow(task, workflow):
    with pytest.raises(ValidationError):
        prompts.prompt_lookup_paths(task, workflow, "CR")


@pytest.mark.parametrize("doc_type", ["../../etc/passwd", "a/b", "default", "", "x" * 200])
def test_unsafe_doc_type_never_builds_a_path(doc_type):
    assert prompts.prompt_lookup_paths("REVIEW", "REVIEW", doc_type) == [
        "review/review/default.yaml", "review/default.yaml"]


def test_loaded_config_is_a_copy():
    first = prompts.load_prompt("REVIEW", "POST_REVIEW", "CR")
    first["checklist"].clear()
    assert prompts.load_prompt("REVIEW", "POST_REVIEW", "CR")["checklist"]


# --------------------------------------------------------------------------- packaged YAML


@pytest.mark.req("REQ-PROMPT-002")
def test_every_shipped_prompt_file_is_present():
    assert prompts.prompt_files() == EXPECTED_PROMPT_FILES


@pytest.mark.req("REQ-PROMPT-002")
@pytest.mark.req("REQ-PROMPT-004")
@pytest.mark.parametrize("relpath", EXPECTED_PROMPT_FILES)
def test_prompt_yaml_loads_and_matches_schema(relpath):
    node = RES / "prompts"
    for part in relpath.split("/"):
        node = node / part
    data = yaml.safe_load(node.read_text(encoding="utf-8"))
    assert prompts.schema_errors(data) == []
    assert data["checklist"], "every prompt has a checklist"
    assert data["critical_reminders"], "every prompt has critical reminders"
    for category in data["checklist"]:
        assert category["category"].strip() and category["items"]


def test_prompt_categories_per_phase():
    def categories(*args):
        return [c["category"] for c in prompts.load_prompt(*args)["checklist"]]

    assert "Execution Compliance" in categories("REVIEW", "POST_REVIEW", "CR")
    assert "Execution Compliance" in categories("REVIEW", "POST_REVIEW", "VAR")
    assert "Procedure Content" in categories("REVIEW", "REVIEW", "SOP")
    assert "Procedure Content" not in categories("REVIEW", "REVIEW", "TEMPLATE")
    for workflow in ("APPROVAL", "PRE_APPROVAL", "POST_APPROVAL"):
        assert categories("APPROVAL", workflow, "CR") == ["Pre-Approval"]


@pytest.mark.parametrize("bad, fragment", [
    ([], "mapping"),
    ({"checklist": "x"}, "checklist must be a list"),
    ({"checklist": [{"category": "", "items": ["a"]}]}, "category"),
    ({"checklist": [{"category": "A", "items": []}]}, "items"),
    ({"checklist": [{"category": "A", "items": [{"evidence_prompt": "x"}]}]}, "text"),
    ({"checklist": [{"category": "A", "items": [3]}]}, "string or a mapping"),
    ({"critical_reminders": [1]}, "critical_reminders"),
    ({"additional_sections": [{"title": "t", "body": "x"}]}, "additional_sections"),
    ({"custom_header": ["x"]}, "custom_header"),
    ({"unexpected": 1}, "unknown key"),
])
def test_schema_errors_detects_malformed_config(bad, fragment):
    errors = prompts.schema_errors(bad)
    assert errors and any(fragment in e for e in errors)


@pytest.fixture
def prompt_dir(tmp_path, monkeypatch):
    """Point the loader at a temporary prompts folder (caches cleared around the test)."""
    monkeypatch.setattr(prompts, "_resource", lambda rel: tmp_path.joinpath(*rel.split("/")))
    prompts._exists.cache_clear()
    prompts._load.cache_clear()
    yield tmp_path
    prompts._exists.cache_clear()
    prompts._load.cache_clear()


def write(root, relpath, text):
    path = root.joinpath(*relpath.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.req("REQ-PROMPT-002")
def test_prompt_content_comes_from_yaml_files(prompt_dir):
    write(prompt_dir, "review/default.yaml",
          "checklist:\n  - category: Only\n    items: [\"from yaml\"]\n")
    assert prompts.prompt_files() == ["review/default.yaml"]
    body = split_task(render(workflow_type="PRE_REVIEW"))[1]
    assert "### Only" in body and "| from yaml | PASS / FAIL |  |" in body
    write(prompt_dir, "review/pre_review/cr.yaml",
          "checklist:\n  - category: Specific\n    items: [\"cr only\"]\n")
    prompts._exists.cache_clear()
    body = split_task(render(workflow_type="PRE_REVIEW", doc_id="CR-001"))[1]
    assert "### Specific" in body and "### Only" not in body


@pytest.mark.parametrize("content", [
    "checklist: [unclosed", "checklist: 5\n", "- a list\n", "custom_header: [1]\n",
])
def test_invalid_prompt_file_is_reported(prompt_dir, content):
    write(prompt_dir, "review/default.yaml", content)
    with pytest.raises(ProjectError):
        prompts.load_prompt("REVIEW", "REVIEW", None)


def test_empty_prompt_file_renders_defaults(prompt_dir):
    write(prompt_dir, "approval/default.yaml", "")
    body = split_task(render(task_type="APPROVAL", workflow_type="APPROVAL"))[1]
    assert "## Required Response Format" in body and "## Commands" in body
    assert "## Mandatory Checklist" not in body


# --------------------------------------------------------------------------- task files


@pytest.mark.req("REQ-TASK-002")
def test_task_id_and_filename():
    assert prompts.task_id("CR-097", "POST_REVIEW", "1.1") == "task-CR-097-post_review-v1-1"
    assert prompts.task_filename("CR-097", "POST_REVIEW", "1.1") == \
        "task-CR-097-post_review-v1-1.md"
    assert prompts.task_filename("SDLC-QMS-RS", "approval", "21.1") == \
        "task-SDLC-QMS-RS-approval-v21-1.md"


@pytest.mark.parametrize("doc_id, workflow, version", [
    ("../CR-001", "REVIEW", "0.1"), ("CR-001/x", "REVIEW", "0.1"), ("", "REVIEW", "0.1"),
    ("CR-001", "REVIEW", "0.1/../x"), ("CR-001", "REVIEW", "v1"), ("CR-001", "NOPE", "0.1"),
])
def test_task_filename_rejects_unsafe_parts(doc_id, workflow, version):
    with pytest.raises(ValidationError):
        prompts.task_filename(doc_id, workflow, version)


@pytest.mark.req("REQ-TASK-002")
@pytest.mark.req("REQ-PROMPT-001")
def test_frontmatter_keys_and_values_in_order():
    text = render(task_type="REVIEW", workflow_type="POST_REVIEW", doc_id="CR-097",
                  title="Fix the thing", status="IN_POST_REVIEW", version="1.1",
                  assigned_date="2026-01-05")
    fm, _ = split_task(text)
    assert list(fm) == FM_KEYS
    assert fm == {
        "task_id": "task-CR-097-post_review-v1-1", "task_type": "REVIEW",
        "workflow_type": "POST_REVIEW", "doc_id": "CR-097", "title": "Fix the thing",
        "status": "IN_POST_REVIEW", "responsible_user": "claude", "assigned_by": "claude",
        "assigned_date": "2026-01-05", "version": "1.1",
    }
    assert fm["task_id"] + ".md" == prompts.task_filename("CR-097", "POST_REVIEW", "1.1")


@pytest.mark.req("REQ-TASK-002")
@pytest.mark.parametrize("title", [
    "Fix: colon in title",
    "Quotes ' and \" inside",
    "Line one\nline two",
    "---\nfake: frontmatter\n---",
    "# hash, [brackets], {braces}, & anchors *star !tag",
    "yes", "null", "1.0", "2026-01-05", "  padded  ", "pipe | in title",
    "unicode: café — naïve ✓", "tab\there", "",
])
def test_frontmatter_round_trips_any_title(title):
    fm, body = split_task(render(title=title))
    assert fm["title"] == title
    assert list(fm) == FM_KEYS
    assert body.lstrip().startswith("# Review Request: SOP-001")


def test_frontmatter_values_are_strings_or_null():
    fm, _ = split_task(render(version="10.0", assigned_date="2026-01-05",
                              responsible_user=None))
    assert fm["version"] == "10.0" and fm["assigned_date"] == "2026-01-05"
    assert fm["responsible_user"] is None


@pytest.mark.req("REQ-PROMPT-004")
@pytest.mark.req("REQ-PROMPT-005")
def test_review_body_structure():
    text = render(task_type="REVIEW", workflow_type="POST_REVIEW", doc_id="CR-005",
                  status="IN_POST_REVIEW", version="1.2", assigned_by="claude",
                  assigned_date="2026-02-03", assignee="qa")
    _, body = split_task(text)
    head = body.split("## Mandatory Checklist")[0]
    assert "# Review Request: CR-005" in head
    for fragment in ("POST_REVIEW", "1.2", "claude", "2026-02-03"):
        assert fragment in head
    config = prompts.load_prompt("REVIEW", "POST_REVIEW", "CR")
    for category in config["checklist"]:
        heading = f"### {category['category']}"
        assert heading in body
        table = body.split(heading, 1)[1]
        assert table.lstrip().startswith("| Item | Status | Evidence |")
    rows = [ln for ln in body.splitlines() if ln.startswith("| ") and "PASS / FAIL" in ln]
    assert len(rows) == sum(len(c["items"]) for c in config["checklist"])
    assert "| Every EI has a Task Outcome (Pass or Fail) | PASS / FAIL |  |" in body
    assert "(quote the value) |" in body
    order = [body.index(s) for s in ("## Mandatory Checklist", "## Required Response Format",
                                     "## Critical Reminders", "## Commands")]
    assert order == sorted(order)
    assert "- **Execution verification is the point of this review**" in body
    assert 'qms --user qa review CR-005 --recommend --comment "..."' in body
    assert 'qms --user qa review CR-005 --request-updates --comment "..."' in body
    assert 'qms_review(user="qa", doc_id="CR-005", outcome="recommend", comment="...")' in body
    assert "{doc_id}" not in body and "{assignee}" not in body


@pytest.mark.req("REQ-PROMPT-005")
def test_doc_type_is_inferred_from_id_when_not_given():
    cr = render(task_type="REVIEW", workflow_type="POST_REVIEW", doc_id="CR-005")
    var = render(task_type="REVIEW", workflow_type="POST_REVIEW", doc_id="CR-005-VAR-001")
    assert "### Code and Qualification" in cr
    assert "### Code and Qualification" not in var
    explicit = render(task_type="REVIEW", workflow_type="POST_REVIEW", doc_id="CR-005-VAR-001",
                      doc_type="CR")
    assert "### Code and Qualification" in explicit


@pytest.mark.req("REQ-PROMPT-005")
def test_approval_body_and_commands():
    text = render(task_type="APPROVAL", workflow_type="PRE_APPROVAL", doc_id="CR-010",
                  status="IN_PRE_APPROVAL", assignee="tu")
    fm, body = split_task(text)
    assert fm["task_type"] == "APPROVAL" and fm["workflow_type"] == "PRE_APPROVAL"
    assert fm["task_id"] == "task-CR-010-pre_approval-v0-1"
    assert "# Approval Request: CR-010" in body
    assert "### Pre-Approval" in body
    assert "qms --user tu approve CR-010" in body
    assert 'qms --user tu reject CR-010 --comment "..."' in body
    assert 'qms_approve(user="tu", doc_id="CR-010")' in body
    assert 'qms_reject(user="tu", doc_id="CR-010", comment="...")' in body
    assert "review CR-010 --recommend" not in body


def test_task_type_is_normalised_and_checked():
    fm, _ = split_task(render(task_type="review", workflow_type="pre_review"))
    assert fm["task_type"] == "REVIEW" and fm["workflow_type"] == "PRE_REVIEW"
    with pytest.raises(ValidationError):
        render(task_type="APPROVAL", workflow_type="REVIEW")


def test_commands_without_assignee_use_placeholder():
    text = prompts.render_task(
        task_type="REVIEW", workflow_type="REVIEW", doc_id="SOP-002", title="T",
        status="IN_REVIEW", responsible_user="claude", assigned_by="claude",
        assigned_date="2026-01-05", version="0.1")
    assert 'qms --user <you> review SOP-002 --recommend --comment "..."' in text


@pytest.mark.req("REQ-PROMPT-006")
def test_custom_header_footer_sections_and_cell_escaping(monkeypatch):
    config = {
        "custom_header": "HEADER for {doc_id}",
        "custom_footer": "FOOTER v{version}",
        "checklist": [
            {"category": "Odd | Category", "items": [
                "plain | item",
                {"text": "multi\nline", "evidence_prompt": "quote a|b"},
            ]},
        ],
        "critical_reminders": ["Remember {workflow}"],
        "additional_sections": [{"title": "Extra", "content": "See {doc_id} by {assignee}."}],
        "response_format": "Reply with ```fenced``` text for {doc_id}",
    }
    monkeypatch.setattr(prompts, "load_prompt", lambda *a, **k: config)
    text = render(doc_id="SOP-003", version="2.1", assignee="qa")
    fm, body = split_task(text)
    assert fm["doc_id"] == "SOP-003"
    assert body.lstrip().startswith("HEADER for SOP-003\n\n---\n")
    assert body.rstrip().endswith("---\n\nFOOTER v2.1")
    assert "| plain \\| item | PASS / FAIL |  |" in body
    assert "| multi<br>line | PASS / FAIL | (quote a\\|b) |" in body
    assert "### Odd | Category" in body
    assert "- Remember REVIEW" in body
    assert "## Extra\n\nSee SOP-003 by qa." in body
    # the response format is fenced with a fence longer than any backtick run inside it
    assert "````markdown\nReply with ```fenced``` text for SOP-003\n````" in body


def test_title_cannot_inject_into_body_or_tokens():
    fm, body = split_task(render(title="Evil {doc_id}\n## Injected\n| x |"))
    assert fm["title"] == "Evil {doc_id}\n## Injected\n| x |"
    assert "\n## Injected" not in body
    assert "Evil {doc_id} ## Injected | x |" in body


# --------------------------------------------------------------------------- templates


def template_text(doc_type: str) -> str:
    return (RES / "templates" / f"TEMPLATE-{doc_type}.md").read_text(encoding="utf-8")


FM_RE = re.compile(r"^---\n(.*?)\n---\n", re.S)
NOTICE_RE = re.compile(r"<!--\n(={70,82})\nTEMPLATE DOCUMENT NOTICE\n\1\n.*?\n\1\n-->", re.S)


@pytest.mark.req("REQ-TEMPLATE-004")
@pytest.mark.parametrize("doc_type", TEMPLATE_TYPES)
def test_template_layout(doc_type):
    text = template_text(doc_type)
    own = FM_RE.match(text)
    assert own, "template starts with its own frontmatter"
    own_fm = yaml.safe_load(own.group(1))
    assert set(own_fm) == {"title", "revision_summary"}
    assert "{{" not in own.group(1)
    rest = text[own.end():]
    notice = NOTICE_RE.search(rest)
    assert notice and rest.lstrip().startswith("<!--"), "notice block follows the frontmatter"
    after = rest[notice.end():]
    example = re.search(r"^---\n(title: '\{\{(TITLE|title)\}\}'\nrevision_summary: 'Initial draft')"
                        r"\n---\n", after, re.M)
    assert example, "example frontmatter follows the notice"
    assert "---" not in after[:example.start()], "nothing but comments before the example FM"
    expected = "title" if doc_type == "VR" else "TITLE"
    assert example.group(2) == expected
    assert yaml.safe_load(example.group(1))["revision_summary"] == "Initial draft"
    body = after[example.end():]
    if doc_type != "TC":
        assert body.rstrip().endswith("**END OF DOCUMENT**")


@pytest.mark.req("REQ-TEMPLATE-003")
@pytest.mark.parametrize("doc_type", ["ADD", "CR", "ER", "INV", "SOP", "TP", "VAR"])
def test_template_instantiates_with_id_and_title(doc_type):
    templates = pytest.importorskip("qms.domain.templates")
    new_id = {"ADD": "CR-001-ADD-001", "ER": "CR-001-TP-001-ER-001", "TP": "CR-001-TP-001",
              "VAR": "CR-001-VAR-001"}.get(doc_type, f"{doc_type}-042")
    body = templates.instantiate(template_text(doc_type), new_id, doc_type, "My Title")
    assert f"# {new_id}: My Title" in body
    assert f"{doc_type}-XXX" not in body and "{{TITLE}}" not in body
    assert "TEMPLATE DOCUMENT NOTICE" not in body


def test_cr_template_sections_and_tables():
    text = template_text("CR")
    headings = re.findall(r"^## (\d+)\. (.+)$", text, re.M)
    assert [int(n) for n, _ in headings] == list(range(1, 13))
    assert [t for _, t in headings] == [
        "Purpose", "Scope", "Current State", "Proposed State", "Change Description",
        "Justification", "Impact Assessment", "Testing Summary", "Implementation Plan",
        "Execution", "Execution Summary", "References"]
    assert ("| EI | Task Description | VR | Execution Summary | Task Outcome | "
            "Performed By - Date |") in text
    assert "| Comment | Performed By - Date |" in text
    for sub in ("### 7.4 Development Controls", "### 7.5 Qualified State Continuity"):
        assert sub in text


def test_inv_template_has_capa_table():
    text = template_text("INV")
    assert ("| CAPA | Type | Description | Implementation | Outcome | Verified By - Date |"
            in text)
    assert "| INV-XXX-CAPA-001 |" in text
    assert "Procedural or Product" in text


@pytest.mark.parametrize("doc_type", ["VAR", "ADD"])
def test_child_templates_have_ei_table(doc_type):
    assert ("| EI | Task Description | VR | Execution Summary | Task Outcome | "
            "Performed By - Date |") in template_text(doc_type)


def test_tc_fragment_test_script_table():
    assert ("| Step | REQ | Instruction | Expected Result | Actual Result | Pass/Fail | "
            "Performed By - Date |") in template_text("TC")


VR_TAGS = [
    "<!--\n@template: VR | version: 5 | start: related_eis\n",
    "<!-- @prompt: related_eis | next: objective -->",
    "<!-- @prompt: objective | next: pre_conditions -->",
    "<!-- @prompt: pre_conditions | next: step_instructions -->",
    "<!-- @loop: steps -->",
    "<!-- @prompt: step_instructions | next: step_expected -->",
    "<!-- @prompt: step_expected | next: step_actual -->",
    "<!-- @prompt: step_actual | next: step_outcome | commit: true -->",
    "<!-- @prompt: step_outcome | next: more_steps -->",
    "<!-- @gate: more_steps | type: yesno | yes: step_instructions | no: summary_outcome -->",
    "<!-- @end-loop: steps -->",
    "<!-- @prompt: summary_outcome | next: summary_narrative -->",
    "<!-- @prompt: summary_narrative | next: end -->",
    "<!-- @end -->",
]


@pytest.mark.req("REQ-INT-001")
@pytest.mark.req("REQ-INT-002")
@pytest.mark.req("REQ-INT-003")
def test_vr_template_tags_in_order():
    text = template_text("VR")
    positions = []
    for tag in VR_TAGS:
        assert text.count(tag) == 1, tag
        positions.append(text.index(tag))
    assert positions == sorted(positions)
    assert text.count("<!-- @end-prompt -->") == 10  # 9 prompts + 1 gate
    for placeholder in ("{{vr_id}}", "{{parent_doc_id}}", "{{related_eis}}", "{{date}}",
                        "{{objective}}", "{{pre_conditions}}", "{{step_instructions}}",
                        "{{step_expected}}", "{{step_actual}}", "{{step_outcome}}",
                        "{{summary_outcome}}", "{{summary_narrative}}", "### 4.{{_n}} Step {{_n}}"):
        assert placeholder in text


@pytest.mark.req("REQ-INT-002")
def test_vr_template_parses_with_the_interactive_parser():
    template = pytest.importorskip("qms.domain.interact.template")
    tpl = template.parse_template(template_text("VR"))
    assert (tpl.name, str(tpl.version), tpl.start) == ("VR", "5", "related_eis")
    assert set(tpl.nodes) == {"related_eis", "objective", "pre_conditions", "step_instructions",
                              "step_expected", "step_actual", "step_outcome", "more_steps",
                              "summary_outcome", "summary_narrative"}
    assert tpl.loops["steps"].nodes[0] == "step_instructions"
    assert tpl.nodes["step_actual"].commit is True
    gate = tpl.nodes["more_steps"]
    assert (gate.kind, gate.yes, gate.no) == ("gate", "step_instructions", "summary_outcome")
    for node in tpl.nodes.values():
        assert node.guidance.strip(), f"{node.id} has guidance"


# --------------------------------------------------------------------------- SOPs, agents, CLAUDE.md

SOP_TITLES = {
    1: "Document Control", 2: "Change Control", 3: "Deviation Management and CAPA",
    4: "Document Execution", 5: "Code Governance", 6: "SDLC Governance and Qualification",
    7: "Agent Orchestration",
}


@pytest.mark.parametrize("number", sorted(SOP_TITLES))
def test_seed_sop_structure(number):
    text = (RES / "sops" / f"SOP-00{number}.md").read_text(encoding="utf-8")
    fm = yaml.safe_load(FM_RE.match(text).group(1))
    assert set(fm) == {"title", "revision_summary"}
    assert fm["title"] == SOP_TITLES[number] and fm["revision_summary"]
    assert f"\n# SOP-00{number}: {SOP_TITLES[number]}\n" in text
    for section in ("## 1. Purpose", "## 2. Scope", "## 3. Definitions"):
        assert section in text
    assert re.search(r"^## \d+\. References$", text, re.M)
    assert text.rstrip().endswith("**END OF DOCUMENT**")
    assert "{{" not in text and "TODO" not in text and "TBD" not in text


@pytest.mark.parametrize("name, group", [("qa", "quality"), ("tu", "reviewer")])
def test_seed_agents(name, group):
    text = (RES / "agents" / f"{name}.md").read_text(encoding="utf-8")
    fm = FM_RE.match(text)
    data = yaml.safe_load(fm.group(1))
    assert data["name"] == name and data["group"] == group and data["description"]
    assert f'qms_review(user="{name}"' in text and "qms_inbox" in text


def test_seed_claude_md():
    text = (RES / "claude" / "CLAUDE.md").read_text(encoding="utf-8")
    assert text.startswith("# ")
    for fragment in ("qms --user", "inbox", "qms_inbox", "QMS/"):
        assert fragment in text
