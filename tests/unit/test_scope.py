"""The qms-scope block and the one path decision (pure)."""

from __future__ import annotations

import pytest

from qms.domain import scope
from qms.errors import ValidationError

BLOCK = """```qms-scope
system: APP
paths: [src/app/auth/**, tests/test_auth*.py]
exclude: [src/app/auth/keys.py]
expect: [src/app/auth/login.py]
requirements: revise
exploratory: false
```"""


def in_force(block: str = BLOCK, prefixes=("src/app", "tests"), project_prefix="") -> scope.InForce:
    return scope.InForce([scope.parse_text(block)], list(prefixes), project_prefix)


@pytest.mark.req("REQ-CODE-002")
def test_block_is_parsed():
    s = scope.parse_text(f"# CR\n\nText.\n\n{BLOCK}\n\nMore.\n")
    assert s.to_dict() == {"system": "APP", "paths": ["src/app/auth/**", "tests/test_auth*.py"],
                           "exclude": ["src/app/auth/keys.py"],
                           "expect": ["src/app/auth/login.py"], "requirements": "revise",
                           "exploratory": False}


@pytest.mark.req("REQ-CODE-002")
@pytest.mark.parametrize("text", [
    "no block at all",
    f"<!--\n{BLOCK}\n-->",                      # the template's guidance
    f"  <!-- a comment\n{BLOCK}\n  -->",
    f"````markdown\n{BLOCK}\n````",             # an example inside another code block
    f"~~~\n{BLOCK}\n~~~",
])
def test_blocks_in_comments_and_other_fences_do_not_count(text):
    assert scope.parse_text(text) is None


@pytest.mark.req("REQ-CODE-002")
@pytest.mark.parametrize("body, words", [
    ("system: APP\npaths: [src/app/**]\n", "requirements"),
    ("paths: [src/app/**]\nrequirements: revise\n", "system"),
    ("system: app\npaths: [src/app/**]\nrequirements: revise\n", "system"),
    ("system: APP\nrequirements: revise\n", "paths"),
    ("system: APP\npaths: []\nrequirements: revise\n", "paths"),
    ("system: APP\npaths: [src/app/**]\nrequirements: maybe\n", "requirements"),
    ("system: APP\npaths: [src/app/**]\nrequirements: revise\nexploratory: perhaps\n", "exploratory"),
    ("system: APP\npaths: [src/app/**]\nrequirements: revise\nowner: me\n", "unknown key"),
    ("system: APP\npaths: ['!src/app/x']\nrequirements: revise\n", "negation"),
    ("system: APP\npaths: [src/app/**\nrequirements: revise\n", "yaml"),
    ("- just\n- a list\n", "mapping"),
])
def test_malformed_blocks_are_refused(body, words):
    with pytest.raises(ValidationError) as err:
        scope.parse_text(f"```qms-scope\n{body}```\n")
    assert words.lower() in err.value.message.lower()


@pytest.mark.req("REQ-CODE-002")
def test_two_blocks_and_an_unclosed_one_are_refused():
    with pytest.raises(ValidationError, match="2 qms-scope blocks"):
        scope.parse_text(f"{BLOCK}\n\n{BLOCK}\n")
    with pytest.raises(ValidationError, match="not closed"):
        scope.parse_text("```qms-scope\nsystem: APP\n")


@pytest.mark.req("REQ-CODE-002")
@pytest.mark.parametrize("pattern, ok", [
    ("src/app/auth/**", True), ("/src/app/x.py", True), ("src/app", True),
    ("tests/test_*.py", True), ("*.py", False), ("src/**/auth.py", False),
    ("docker/**", False), ("**/src/app/x", False), ("src/application/x.py", False),
])
def test_patterns_must_be_anchored_inside_the_system(pattern, ok):
    s = scope.Scope("APP", [pattern], [], [], "revise", False)
    if ok:
        scope.check_within(s, ["src/app", "tests"])
    else:
        with pytest.raises(ValidationError, match="outside system APP"):
            scope.check_within(s, ["src/app", "tests"])


@pytest.mark.req("REQ-CODE-007")
@pytest.mark.parametrize("path, allowed", [
    ("src/app/auth/login.py", True),
    ("src/app/auth/deep/er/x.py", True),
    ("src/app/auth/keys.py", False),            # excluded
    ("src/app/other.py", False),                # in the system, outside the scope
    ("tests/test_auth_more.py", True),
    ("tests/sub/test_auth.py", False),          # the pattern is anchored
    ("docker/Dockerfile", False),               # outside the system (INV-008)
    ("src/app/auth/with space \"q\" 'x'.py", True),
    ("src/app/auth/new\nline.py", True),
    ("src/app/auth/tab\there.py", True),
    ("src/app/auth/ünïcödé.py", True),
    ("src/app/auth/-leading-dash", True),
    ("src/app/auth/..looks-like-up", True),
    ("src/app/auth/\udcff-not-utf8.py", True),
    ("src/app/other\nsrc/app/auth/x.py", False),  # a newline cannot smuggle a path in
    ("QMS/CR/CR-001.md", False), ("qms/x", False), (".qms/keys/k", False),
    (".claude/settings.json", False), ("qms.config.json", False),
])
def test_allows_is_the_one_decision(path, allowed):
    assert in_force().allows(path) is allowed


@pytest.mark.req("REQ-CODE-007")
def test_qms_data_is_refused_even_when_a_pattern_matches_it():
    everything = "```qms-scope\nsystem: APP\npaths: [sub/**]\nrequirements: revise\n```"
    rules = in_force(everything, prefixes=("sub",), project_prefix="sub")
    assert rules.allows("sub/code.py")
    for path in ("sub/QMS/CR/CR-001.md", "sub/.qms/x", "sub/qms.config.json", "QMS/x"):
        assert not rules.allows(path), path


@pytest.mark.req("REQ-CODE-001")
@pytest.mark.parametrize("prefix", ["", "/", "..", "src/../x", "src/*", "QMS", ".qms/x",
                                    ".claude", "qms.config.json", "a\nb"])
def test_bad_system_prefixes_are_refused(prefix):
    with pytest.raises(ValidationError):
        scope.normalize_prefix(prefix)


def test_overlap():
    assert scope.overlap(["src/app/x"], ["src/app"]) == "src/app/x"
    assert scope.overlap(["src"], ["src/app"]) == "src"
    assert scope.overlap(["src/application"], ["src/app"]) is None
