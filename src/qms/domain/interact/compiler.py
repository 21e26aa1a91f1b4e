"""Compile a template + source into the document's markdown (rules: docs/interact.md).

Deterministic and pure. Responses are data: whatever they contain (code fences, pipes,
HTML), the output keeps its structure — block quotes per line, table cells escaped,
fences longer than any fence inside the value, HTML openers neutralised.
"""

from __future__ import annotations

import os
import re

import yaml

from .source import PLACEHOLDER, Source, entry_key
from .template import FENCE_RE, Line, Template, closes_fence, parse_template

_BARE = re.compile(r"^\s*\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}\s*$")
_HTML_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_BLANKS = re.compile(r"\n{3,}")


def compile_document(template_text: str, source: Source) -> str:
    """The compiled markdown of ``source`` rendered through the template text."""
    return compile_template(parse_template(template_text), source)


def compile_template(template: Template, source: Source) -> str:
    source = source.copy()
    source.metadata.update(source.auto_metadata())
    out: list[str] = []
    if template.frontmatter is not None:
        out += ["---", _frontmatter(template.frontmatter, source).rstrip("\n"), "---"]
    labels = _labels(template)
    run: list[Line] = []  # consecutive lines outside loops, rendered together
    for segment in (*template.body, None):
        if isinstance(segment, Line):
            run.append(segment)
            continue
        out += _render(tuple(run), template, source, None, labels)
        run = []
        if segment is not None:
            count = source.loops.get(segment.name, {}).get("iterations", 0)
            for n in range(1, count + 1):
                out += _render(segment.lines, template, source, n, labels)
    text = "\n".join(out).strip("\n") + "\n"
    return _BLANKS.sub("\n\n", text)


# -- pieces -------------------------------------------------------------------------------

def _frontmatter(data: dict[str, object], source: Source) -> str:
    """The example frontmatter with placeholders filled, re-serialised as safe YAML."""
    filled = {k: _inline(v, source, None, escape=False) if isinstance(v, str) else v
              for k, v in data.items()}
    return yaml.safe_dump(filled, sort_keys=False, allow_unicode=True, width=10**9)


def _labels(template: Template) -> dict[str, str]:
    """Labels for loop prompts: the id minus the loop's common ``prefix_``, title-cased."""
    labels = {}
    for loop in template.loops.values():
        ids = [i for i in loop.nodes if template.nodes[i].kind == "prompt"]
        prefix = os.path.commonprefix(ids)
        prefix = prefix[: prefix.rfind("_") + 1]
        for node_id in ids:
            labels[node_id] = node_id[len(prefix):].replace("_", " ").strip().title()
    return labels


def _render(lines: tuple[Line, ...], template: Template, source: Source,
            iteration: int | None, labels: dict[str, str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        text = lines[i].text
        fence = FENCE_RE.match(text)
        if fence:
            end = _fence_end(lines, i, fence.group(1))
            block = [line.text for line in lines[i + 1 : end]]
            inner = [b for b in block if b.strip()]
            bare = _BARE.match(inner[0]) if len(inner) == 1 else None
            if bare and bare.group(1) in template.prompt_ids:
                blocks = _response(bare.group(1), template, source, iteration,
                                   (fence.group(1)[0], fence.group(2).strip()))
                out += _labelled("", bare.group(1), labels, blocks)
            else:
                out += [line.text for line in lines[i : end + 1]]
            i = end + 1
            continue
        if _is_row(text):
            end = next((j for j in range(i, len(lines)) if not _is_row(lines[j].text)),
                       len(lines))
            out += _table([line.text for line in lines[i:end]], template, source, iteration)
            i = end
            continue
        prompts = [m.group(1) for m in PLACEHOLDER.finditer(text)
                   if m.group(1) in template.prompt_ids]
        if prompts:
            out += _block_line(text, prompts, template, source, iteration, labels)
        else:
            out.append(_inline(text, source, iteration, escape=True))
        i += 1
    return out


def _is_row(text: str) -> bool:
    return text.lstrip().startswith("|")


def _table(rows: list[str], template: Template, source: Source,
           iteration: int | None) -> list[str]:
    """Rows with active values inline; below the table, the trail of each amended answer
    under its column header."""
    out = [_inline(row, source, iteration, escape=True, table=True) for row in rows]
    header = _cells(rows[0])
    for row in rows[1:]:
        for column, cell in enumerate(_cells(row)):
            for match in PLACEHOLDER.finditer(cell):
                prompt_id = match.group(1)
                if len(_entries(template, source, prompt_id, iteration)) > 1:
                    label = header[column] if column < len(header) else prompt_id
                    out += ["", f"**{label} (amended):**", "",
                            *_response(prompt_id, template, source, iteration, None)]
    return out


def _cells(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def _block_line(text: str, prompts: list[str], template: Template, source: Source,
                iteration: int | None, labels: dict[str, str]) -> list[str]:
    """A non-table line with answers: its other text is the label, answers are blocks."""
    blocks = [b for p in prompts for b in _response(p, template, source, iteration, None)]
    rest = PLACEHOLDER.sub(lambda m: "" if m.group(1) in prompts else m.group(0), text)
    return _labelled(_inline(rest, source, iteration, escape=True), prompts[0], labels, blocks)


def _labelled(text: str, prompt_id: str, labels: dict[str, str], blocks: list[str]) -> list[str]:
    """Blocks under the template's own label text, else the derived loop label."""
    if not blocks:
        return []
    label = text.strip() if text.strip("*_ \t") else ""
    if not label and prompt_id in labels:
        label = f"**{labels[prompt_id]}:**"
    return ["", *([label, ""] if label else []), *blocks]


def _fence_end(lines: tuple[Line, ...], start: int, fence: str) -> int:
    """Index of the closing fence (the parser guarantees there is one)."""
    return next(j for j in range(start + 1, len(lines)) if closes_fence(fence, lines[j].text))


def _inline(text: str, source: Source, iteration: int | None, *, escape: bool,
            table: bool = False) -> str:
    """Fill ``{{x}}`` with active values on one line; unknown names become empty."""
    def value(match: re.Match[str]) -> str:
        found = source.lookup(match.group(1), iteration) or ""
        if not escape:
            return found
        if not table:
            return _HTML_OPEN.sub("&lt;", " ".join(found.split()))
        found = _HTML_OPEN.sub("&lt;", found.strip()).replace("\\", "\\\\")
        return found.replace("|", "\\|").replace("\n", "<br>")
    return PLACEHOLDER.sub(value, text)


def _response(prompt_id: str, template: Template, source: Source, iteration: int | None,
              fence: tuple[str, str] | None) -> list[str]:
    """Every entry of the answer (superseded ones struck) with its attribution line."""
    entries = _entries(template, source, prompt_id, iteration)
    out: list[str] = []
    last = len(entries) - 1
    for index, entry in enumerate(entries):
        superseded = index < last
        if fence:
            out += _fenced(entry["value"], *fence, superseded)
        else:
            out += _quoted(entry["value"], superseded)
        out += ["", _attribution(entry), ""]
    return out


def _entries(template: Template, source: Source, prompt_id: str,
             iteration: int | None) -> list[dict]:
    """Entries of a prompt here: loop prompts only inside their loop, others outside."""
    node = template.nodes.get(prompt_id)
    if node is None or node.kind != "prompt" or (iteration is not None) != bool(node.loop):
        return []
    return source.entries(entry_key(prompt_id, iteration if node.loop else None))


def _quoted(value: str, superseded: bool) -> list[str]:
    lines = []
    for line in value.split("\n"):
        line = _HTML_OPEN.sub("&lt;", line)
        if superseded and line.strip():
            line = f"~~{line.strip()}~~"
        lines.append(f"> {line}" if line else ">")
    return lines


def _fenced(value: str, char: str, info: str, superseded: bool) -> list[str]:
    longest = max((len(run) for run in re.findall(f"{re.escape(char)}+", value)), default=0)
    fence = char * max(3, longest + 1)
    marker = ["~~Superseded entry~~", ""] if superseded else []
    return marker + [fence + info, value, fence]


def _attribution(entry: dict) -> str:
    stamp = entry["timestamp"].replace("T", " ").removesuffix("Z")
    parts = [f"-- {_plain(entry['author'])}, {stamp}"]
    if entry.get("commit"):
        parts.append(f"commit: {_plain(entry['commit'])}")
    if entry.get("reason"):
        parts.append(f"Amended: {_plain(entry['reason'])}")
    return "*" + " | ".join(parts) + "*"


def _plain(text: str) -> str:
    """One line of text safe inside the italic attribution line."""
    text = " ".join(str(text).split())
    text = re.sub(r"([\\*_`])", r"\\\1", text)
    return _HTML_OPEN.sub("&lt;", text)
