"""verify reads the chain's lines the fast way only where it means exactly what the JSON
parser would read: anything else (other spacing, escapes, odd numbers, extra keys) goes
through the parser."""

from __future__ import annotations

import importlib

import pytest

chain = importlib.import_module("qms.operations.verify.chain")

GOOD = (b'{"seq": 12, "doc_id": "CR-001-VAR-002", "event_sha256": "' + b"a" * 64 +
        b'", "prev_sha256": "' + b"b" * 64 + b'", "key_id": "0123abcd", "sig": "' + b"c" * 128 + b'"}')
ODD = [GOOD.replace(b'"seq": 12', b'"seq": 012'), GOOD.replace(b'"seq": 12', b'"seq": 0'),
       GOOD.replace(b'"seq": 12', b'"seq": +12'), GOOD.replace(b'"seq": 12', b'"seq": 12.0'),
       GOOD.replace(b"CR-001-VAR-002", b"CR/../x"), GOOD + b"  ", GOOD.replace(b": ", b":"),
       GOOD.replace(b'"}', b'", "extra": "x"}'), GOOD.replace(b'"a' + b"a" * 63, b'"zz'),
       GOOD.replace(b'"prev_sha256": "' + b"b" * 64 + b'"', b'"prev_sha256": null'),
       GOOD.replace(b'"event_sha256": "' + b"a" * 64 + b'"', b'"event_sha256": 5'),
       b'{"seq": 1}', b"not json", b'["seq", 1]']


@pytest.mark.req("REQ-INTEG-001")
@pytest.mark.parametrize("line", [GOOD, *ODD])
def test_the_fast_reading_of_a_chain_line_is_the_parsers(line):
    def read(reader):
        try:
            return reader(line)
        except ValueError as exc:
            return ("refused", str(exc))

    assert read(chain._plain_entry) == read(chain._entry)
