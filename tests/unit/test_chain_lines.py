"""verify reads a chain in bulk only where every line means exactly what the JSON parser
would read: anything else (other spacing, escapes, odd numbers, extra keys, a broken link)
is read line by line, through the parser."""

from __future__ import annotations

import hashlib
import importlib

import pytest

chain = importlib.import_module("qms.operations.verify.chain")

KEY = "0123456789abcdef"


def _chain(docs: list[str], edit=None) -> bytes:
    """A linked chain of one line per document; ``edit(n, line)`` changes line ``n``
    before the next line links to it."""
    lines, prev = [], None
    for n, doc in enumerate(docs, 1):
        link = "null" if prev is None else f'"{prev}"'
        line = (f'{{"seq": {n}, "doc_id": "{doc}", "event_sha256": "{n % 10}' + "a" * 63 +
                f'", "prev_sha256": {link}, "key_id": "{KEY}", "sig": "' + "c" * 128 +
                '"}').encode()
        line = edit(n, line) if edit else line
        lines.append(line)
        prev = hashlib.sha256(line).hexdigest()
    return b"\n".join(lines) + b"\n"


DOCS = [f"CR-{n:03d}-VAR-002" for n in range(1, 13)]  # seq 1..12: one and two digits
EDITS = [(b'"seq": 12', b'"seq": 012'), (b'"seq": 12', b'"seq": 12.0'),
         (b'"seq": 12', b'"seq": +12'),
         (b": ", b":"), (b'"}', b'", "extra": "x"}'), (b'"2' + b"a" * 63, b'"zz'),
         (b'"event_sha256": "2' + b"a" * 63 + b'"', b'"event_sha256": 5'),
         (b"CR-012", b"CR\\u002d012"), (b"CR-012", b"CR-\xc3\xa9"), (b'"}', b'"} ')]


@pytest.mark.req("REQ-INTEG-001")
def test_a_chain_as_qms_writes_it_is_read_in_bulk_as_the_parser_reads_it():
    data = _chain(DOCS)
    lines, docs, events, keys = chain._regular(data)
    parsed = [chain._entry(line) for line in lines]
    assert docs == [e["doc_id"] for e in parsed] == DOCS
    assert events == [e["event_sha256"] for e in parsed]
    assert keys == [e["key_id"] for e in parsed] == [KEY] * len(DOCS)


@pytest.mark.req("REQ-INTEG-001")
@pytest.mark.parametrize("old,new", EDITS)
def test_any_other_line_sends_the_chain_through_the_parser(old, new):
    edited = _chain(DOCS, lambda n, line: line.replace(old, new) if n == 12 else line)
    assert edited != _chain(DOCS)
    assert chain._regular(edited) is None


@pytest.mark.req("REQ-INTEG-001")
def test_a_broken_link_or_a_gap_sends_the_chain_through_the_parser():
    data = _chain(DOCS)
    lines = data.split(b"\n")
    assert chain._regular(b"\n".join(lines[:5] + lines[6:])) is None  # a line removed
    relinked = _chain(DOCS, lambda n, line: line.replace(b'"sig": "c', b'"sig": "d')
                      if n == 3 else line)
    assert chain._regular(relinked) is not None  # still regular: its links were redone
    broken = data.replace(lines[2], lines[2].replace(b'"sig": "c', b'"sig": "d'))
    assert chain._regular(broken) is None  # line 4 no longer links to it


@pytest.mark.req("REQ-INTEG-001")
def test_an_odd_doc_id_is_read_in_bulk_exactly_as_the_parser_reads_it():
    odd = _chain(DOCS, lambda n, line: line.replace(b"CR-012-VAR-002", b"CR/../x"))
    lines, docs, _, _ = chain._regular(odd)
    assert docs[-1] == chain._entry(lines[-1])["doc_id"] == "CR/../x"
