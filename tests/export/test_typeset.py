"""The dossier's text is data, never typesetting code: every Markdown construct our templates
and the demo use renders, and Typst syntax or hostile strings in a title, a text or a comment
print literally, read no file and attach nothing (read back with poppler)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

S = sys.modules["_qms_tests_export_support"]  # loaded by this folder's conftest
ROOT = S.ROOT
req = pytest.mark.req
pytestmark = pytest.mark.timeout(180)

TITLE = 'SOP #read("/etc/passwd") [x] $y$ <z> @w'
LONG = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 6  # 270 letters, no break
HOSTILE = ['#pdf.attach("/etc/passwd")', '#import "common.typ": *', '#include "/etc/passwd"',
           '#image("/etc/passwd")', "#sys.inputs", '#read("dossier.typ")', "#{ panic() }",
           "\\ backslash \\\\ double", "] unbalanced [ [[ {{", "$x^2$ <label> @ref",
           "#let x = 1 // ) ] }", LONG]
CONSTRUCTS = """# Everything *we* use

## 1. Purpose

Plain, **strong**, *emphasis*, ~~struck~~ and `inline code [x]`; a
[link text](https://example.com/a?b=c "t") and an image ![alt of the picture](https://example.com/p.png)
and raw <b>HTML</b>.

### 1.1 Lists

1. first ordered
2. second ordered
   - nested bullet
     - deeper bullet
3. third ordered

- bullet one
- bullet two

> A block quote
> > and a nested quote

| EI | Task | Outcome |
|:---|:----:|--------:|
| EI-1 | Calibrate | Pass |
| EI-2 | `code` in a cell | [Pass/Fail] |

```python
def f(x):
    return x  # indented
```

    indented code block

---

<div>an html block stays text</div>
"""


def _doc(tmp_path: Path, body: str, title: str = "Constructs", comment: str | None = None):
    """A project with one SOP holding ``body``, exported by qa through the real CLI."""
    from qms import operations as ops
    from qms.store.project import Project

    root = ROOT.make_project(tmp_path / "p")
    project = Project.open(root)
    doc = ops.create(project, "claude", doc_type="SOP", title=title).doc_id
    text = f"---\ntitle: '{title}'\nrevision_summary: x\n---\n\n{body}"
    ops.checkin(project, "claude", doc_id=doc, content=text)
    if comment is not None:
        ops.route(project, "claude", doc_id=doc, route_type="review")
        ops.review(project, "qa", doc_id=doc, outcome="recommend", comment=comment)
    out = tmp_path / "out.pdf"
    S.Proc(root).ok("qa", "export", doc, "-o", out)
    return root, doc, out


def _line(text: str) -> str:
    return " ".join(text.split())


@req("REQ-EXP-001")
def test_every_markdown_construct_renders(tmp_path, pdf_tools):
    root, doc, out = _doc(tmp_path, CONSTRUCTS)
    S.shots(out, "constructs")
    text = S.pdftext(out)
    line = _line(text)
    for expected in ("Everything we use", "1. Purpose", "1.1 Lists",
                     "Plain, strong, emphasis, struck and inline code [x]",
                     "link text (https://example.com/a?b=c)",
                     "[image: alt of the picture]", "raw <b>HTML</b>",
                     "first ordered", "nested bullet", "deeper bullet", "bullet two",
                     "A block quote", "and a nested quote", "EI-2", "[Pass/Fail]",
                     "def f(x):", "indented code block", "<div>an html block stays text</div>"):
        assert expected in line, expected
    code = {ln.strip().split()[0]: len(ln) - len(ln.lstrip()) for ln in text.splitlines()
            if "def f(x)" in ln or "return x" in ln}
    assert code["return"] - code["def"] == 4  # code keeps its indentation
    assert "**" not in line and "~~" not in line and "](" not in line
    lists = S.pdftext(out, 2)
    assert lists.index("1. first ordered") < lists.index("nested bullet") < \
        lists.index("3. third ordered")
    listed = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True,
                            text=True).stdout.splitlines()
    assert len(listed) <= 2, listed  # no image was fetched


def test_the_tree_is_plain_data():
    from qms.render import tree

    blocks = tree.document(CONSTRUCTS)
    kinds = [b["k"] for b in blocks]
    for kind in ("h", "p", "ol", "ul", "quote", "table", "code", "hr"):
        assert kind in kinds, kind
    table = next(b for b in blocks if b["k"] == "table")
    assert table["align"] == ["left", "center", "right"] and len(table["rows"]) == 2
    nested = next(b for b in blocks if b["k"] == "ol")
    assert nested["tight"] and nested["start"] == 1 and nested["c"][1][1]["k"] == "ul"

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        else:
            assert value is None or isinstance(value, (str, int, bool)), value
            yield value

    assert all(True for _ in leaves(blocks))
    assert tree.breakable("x" * 24) == "x" * 24
    pieces = tree.breakable("see " + "y" * 40 + " end")
    assert "".join(pieces) == "see " + "y" * 40 + " end" and len(pieces) == 3


@req("REQ-EXP-010")
def test_typst_syntax_prints_literally_and_reads_nothing(tmp_path, pdf_tools):
    body = "\n\n".join(HOSTILE) + "\n"
    comment = 'Looks fine #read("/etc/passwd") $z$ [y] \\ <q> @p'
    root, doc, out = _doc(tmp_path, body, title=TITLE, comment=comment)
    S.shots(out, "hostile")
    text = S.pdftext(out)
    line, flat = _line(text), S.flat(text)
    assert TITLE in S.pdftext(out, 1)  # the cover and every running head
    for page in range(1, S.pages(out) + 1):
        assert TITLE in _line(S.pdftext(out, page)), page
    for block in HOSTILE:  # as Markdown shows them: an escaped backslash is one
        assert S.flat(block.replace("\\\\", "\\")) in flat, block
    assert S.flat(comment) in flat  # printed in the trail's details
    assert LONG in flat  # broken over lines, every letter kept
    assert "root:x:0" not in text and "#import" in line
    assert S.attached_names(out) == [f"{doc}-v0.1.md", f"{doc}.audit.jsonl",
                                     f"{doc}.verify.json"]
    files = S.attachments(out, tmp_path / "att")
    assert files[f"{doc}-v0.1.md"] == (root / "QMS" / "SOP" / f"{doc}-draft.md").read_bytes()
    assert files[f"{doc}.audit.jsonl"] == \
        (root / "QMS" / ".audit" / "SOP" / f"{doc}.jsonl").read_bytes()
    meta = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
    assert TITLE in meta  # the PDF's title, as text


@req("REQ-EXP-010")
def test_a_character_without_a_glyph_is_replaced_and_named(tmp_path, pdf_tools):
    body = "CJK \u6f22\u5b57 and a bell \x07 here.\n"
    root, doc, out = _doc(tmp_path, body)
    line = _line(S.pdftext(out))
    assert "no glyph in the embedded fonts" in line and "U+6F22" in line and "U+0007" in line
    assert "and a bell" in line and "here." in line
    source = S.attachments(out, tmp_path / "att")[f"{doc}-v0.1.md"].decode()
    assert "\u6f22\u5b57" in source and "\x07" in source  # the exact text is attached
    assert S.pdfa_part(out) == "3b"
