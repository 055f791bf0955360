"""Issue 13 acceptance: no leak-scan false alarm on real corpora. A plotly figure in the collection report
writes 不适用 as JSON escapes (\\u4e0d\\u9002\\u7528): with admission numbers 9001-9006 (the Wu et al. 2020
sample sheet of tests/realdata), '9002' inside '\\u9002' was reported as a leak and the run exited 3."""

from __future__ import annotations

from curation.deid._scanmatch import NUMERIC, WORD, bounded


def _at(data: bytes, needle: bytes, nth: int = 0) -> tuple[int, int]:
    off = -1
    for _ in range(nth + 1):
        off = data.index(needle, off + 1)
    return off, off + len(needle)


def test_hex_digits_of_a_json_escape_are_not_an_identifier() -> None:
    data = b'{"name":"\\u4e0d\\u9002\\u7528 / not applicable"} 9002'
    assert not bounded(data, *_at(data, b"9002"), NUMERIC)  # inside \u9002
    assert bounded(data, *_at(data, b"9002", 1), NUMERIC)  # the real one at the end
    data = b'"\\u00e9ABCD"'
    assert not bounded(data, *_at(data, b"00e9"), WORD)


def test_an_escape_escaped_again_is_still_an_escape() -> None:
    """A notebook (.ipynb, JSON) holding the report's HTML holding the figure's JSON: \\\\u9002."""
    data = b'"name\\":\\"\\\\u4e0d\\\\u9002\\\\u7528'
    assert not bounded(data, *_at(data, b"9002"), NUMERIC)
