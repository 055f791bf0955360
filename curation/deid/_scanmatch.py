"""How the leak scan matches: identifiers as byte patterns, one Aho-Corasick pass, token boundaries.

:func:`classify` decides how an identifier is delimited (numeric, word, anywhere, or skipped),
:func:`bounded` keeps or drops a raw match by the bytes beside it (escapes included), and
:class:`Matcher` holds every byte form of every identifier. See :mod:`curation.deid.scan` for the rules.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

MIN_LEN = 4
# In binary payloads (pixels, compressed streams) a 4-byte pattern matches by chance about once
# per 4 GB per identifier; only longer byte patterns are searched there.
MIN_BINARY_BYTES = 6
# Bytes looked at on either side of a match (the longest escape, ``\\uXXXX``, is 6).
LOOK = 8

# How an identifier is delimited (see the docstring of curation.deid.scan).
NUMERIC, WORD, ANYWHERE = "numeric", "word", "anywhere"
SKIP_SHORT, SKIP_SEPARATORS = "short", "separators"

_ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_JSON_ESCAPES = frozenset(b'ntrbf"/\\')
_SIGNS = frozenset(b"+-")
_DOT = ord(".")
_BACKSLASH = ord("\\")
_PERCENT = ord("%")
_SPACE = ord(" ")


@dataclass(frozen=True, order=True)
class LeakHit:
    """One identifier found in one place.

    Attributes
    ----------
    path
        Path of the file relative to the bundle root (posix); a path component that itself
        contains an identifier is shown as ``<redacted>``.
    location
        Where in the file: ``file name``, ``column 'x' row 3``, ``PatientName (ideographic)``,
        ``line 12 (gb18030)`` ...
    identifier
        1-based index of the identifier in the list given to the scan (its line number in the
        identifiers file); 0 for a file the scan could not read by its format (not known to be
        clean).
    """

    path: str
    location: str
    identifier: int

    def __str__(self) -> str:
        if not self.identifier:
            return f"{self.path}: {self.location}"
        return f"{self.path}: {self.location}: identifier #{self.identifier}"


_CJK = re.compile("[^\x00-\u2e7f]")


def _is_cjk(text: str) -> bool:
    return not text.isascii() and _CJK.search(text) is not None


def classify(ident: str) -> tuple[str, str]:
    """``(pattern, kind)`` of an identifier, or ``("", reason)`` when it is not searched.

    The pattern is the identifier without surrounding white space, separators and punctuation
    (``Zhang^San^^`` is searched as ``Zhang^San``); ``kind`` is ``numeric``, ``word`` or
    ``anywhere`` (CJK); ``reason`` is ``short`` or ``separators``.
    """
    if ident.isalnum():  # the common case, at C speed
        pattern, n_alnum = ident, len(ident)
    else:
        alnum = [i for i, ch in enumerate(ident) if ch.isalnum()]
        if not alnum:
            return "", SKIP_SEPARATORS
        pattern, n_alnum = ident[alnum[0] : alnum[-1] + 1], len(alnum)
    if _is_cjk(pattern):
        return (pattern, ANYWHERE) if n_alnum >= 2 else ("", SKIP_SHORT)
    if n_alnum < MIN_LEN:
        return "", SKIP_SHORT
    if pattern.isascii() and (pattern.isdigit() or not any(ch.isalpha() for ch in pattern)):
        return pattern, NUMERIC
    return pattern, WORD


def _prev(data: bytes, off: int, lo: int) -> int:
    """The character before ``data[off]`` as a code point (-1 at the start), read through escapes."""
    if off <= lo:
        return -1
    b = data[off - 1]
    if (
        off - 6 >= lo
        and data[off - 6] == _BACKSLASH
        and data[off - 5] in (0x75, 0x55)
        and all(c in _HEX for c in data[off - 4 : off])
    ):
        return int(data[off - 4 : off], 16)  # JSON \uXXXX
    if off - 2 >= lo and data[off - 2] == _BACKSLASH and b in _JSON_ESCAPES:
        return _SPACE  # JSON \n, \t ...
    if off - 3 >= lo and data[off - 3] == _PERCENT and data[off - 2] in _HEX and b in _HEX:
        return int(data[off - 2 : off], 16)  # URL %XX
    return b


def _next(data: bytes, end: int, hi: int) -> int:
    """The character at ``data[end]`` as a code point (-1 at the end), read through escapes."""
    if end >= hi:
        return -1
    b = data[end]
    if b == _BACKSLASH and end + 1 < hi:
        n = data[end + 1]
        if n in (0x75, 0x55) and end + 6 <= hi and all(c in _HEX for c in data[end + 2 : end + 6]):
            return int(data[end + 2 : end + 6], 16)
        if n in _JSON_ESCAPES:
            return _SPACE
    if b == _PERCENT and end + 3 <= hi and data[end + 1] in _HEX and data[end + 2] in _HEX:
        return int(data[end + 1 : end + 3], 16)
    return b


def _in_escape(data: bytes, off: int, lo: int) -> bool:
    """Whether ``data[off]`` is one of the four hex digits of a JSON ``\\uXXXX`` escape."""
    for k in range(2, 6):  # the escape's backslash sits 2 to 5 bytes before
        s = off - k
        if s < lo:
            break
        if (
            data[s] == _BACKSLASH
            and data[s + 1] in (0x75, 0x55)
            and s + 6 <= len(data)
            and all(c in _HEX for c in data[s + 2 : s + 6])
        ):
            return True  # also when escaped again (a notebook's JSON holds the page's JSON: \\\\u9002)
    return False


def bounded(
    data: bytes, off: int, end: int, kind: str, *, lo: int = 0, hi: int | None = None, legacy: bool = False
) -> bool:
    """Whether the match ``data[off:end]`` of an identifier of ``kind`` stands on token boundaries.

    ``lo`` / ``hi`` limit the value the match lies in (bytes outside it are boundaries);
    ``legacy``: the bytes may be GB18030, where an ASCII letter or digit right after a byte >= 0x81
    can be the trail byte of a Chinese character, hence a boundary.
    """
    if kind == ANYWHERE:
        return True
    hi = len(data) if hi is None else hi
    if _in_escape(data, off, lo):
        return False  # the hex digits of a JSON \uXXXX escape (\u9002 is 适), not the identifier 9002
    p, n = _prev(data, off, lo), _next(data, end, hi)
    if legacy and p in _ALNUM and off - 2 >= lo and data[off - 2] >= 0x81:
        p = -1
    if kind == WORD:
        return p not in _ALNUM and n not in _ALNUM
    # numeric: no digit, decimal point or sign may touch it
    if p in _DIGITS or n in _DIGITS:
        return False
    if p == _DOT and _prev(data, off - 1, lo) in _DIGITS:
        return False  # 0.1111...
    if n == _DOT and _next(data, end + 1, hi) in _DIGITS:
        return False  # 1111.5
    # a sign starts a token; a '-' after a letter or digit (ZY-1111, 2023-1111) is a separator
    return not (p in _SIGNS and _prev(data, off - 1, lo) not in _ALNUM)


class _Automaton:
    """Multi-pattern byte search: ahocorasick-rs, else pyahocorasick, else a regex alternation."""

    def __init__(self, patterns: list[bytes], backend: str = "auto") -> None:
        self.pats = patterns
        self.backend = backend
        self._rs: Any = None
        self._aho: Any = None
        self._regex: re.Pattern[bytes] | None = None
        self._set: set[bytes] = set()
        if not patterns:
            return
        if backend in ("auto", "rs"):
            try:  # Rust, over bytes: ~10x pyahocorasick on large automata
                import ahocorasick_rs

                self._rs = ahocorasick_rs.BytesAhoCorasick(patterns)
                return
            except ImportError:
                pass
        if backend in ("auto", "rs", "pyahocorasick"):
            try:
                import ahocorasick

                aho = ahocorasick.Automaton()
                for pat in patterns:
                    aho.add_word(pat.decode("latin-1"), pat)  # latin-1: one char per byte
                aho.make_automaton()
                self._aho = aho
                return
            except ImportError:
                pass
        # a lookahead finds a match at every position, as the automata do; longest first, so that
        # the group holds the longest pattern there (the others are its prefixes)
        self._regex = re.compile(
            b"(?=(" + b"|".join(re.escape(p) for p in sorted(patterns, key=len, reverse=True)) + b"))"
        )
        self._set = set(patterns)

    def __reduce__(self) -> tuple[Any, ...]:
        # built again where it is unpickled (a Dask worker of the leak scan): the automata do not pickle
        return (_Automaton, (self.pats, self.backend))

    def find(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """``(start, pattern)`` of every (overlapping) occurrence."""
        if self._rs is not None:
            for k, start, _ in self._rs.find_matches_as_indexes(data, overlapping=True):
                yield start, self.pats[k]
        elif self._aho is not None:
            for end, pat in self._aho.iter(data.decode("latin-1")):
                yield end - len(pat) + 1, pat
        elif self._regex is not None:
            for m in self._regex.finditer(data):
                longest = m.group(1)
                for k in range(len(longest), 0, -1):
                    if longest[:k] in self._set:
                        yield m.start(), longest[:k]


class Matcher:
    """All byte forms of all identifiers, searched in one pass (two for non-UTF-8 bytes).

    Attributes
    ----------
    skipped
        Identifier number -> reason (``short`` or ``separators``) for identifiers not searched.
    """

    def __init__(self, identifiers: Iterable[tuple[int, str]], *, backend: str = "auto") -> None:
        # Two automata: every form that bytes.lower() leaves comparable (ASCII, UTF-8, escapes) is
        # searched once in the lowered haystack (case-insensitive for ASCII letters; UTF-8
        # multi-byte sequences have no ASCII bytes, so lowering cannot change them); GB18030
        # forms, whose trail bytes can be ASCII letters, are searched in the original bytes.
        self.forms: dict[bytes, tuple[int, str, str]] = {}
        self.gb_forms: dict[bytes, tuple[int, str, str]] = {}
        self.skipped: dict[int, str] = {}
        self.searched: set[int] = set()
        for no, ident in identifiers:
            pattern, kind = classify(ident)
            if not pattern:
                self.skipped[no] = kind
                continue
            self.searched.add(no)
            self._add(pattern, no, kind)
        self._main = _Automaton(list(self.forms), backend)
        self._gb = _Automaton(list(self.gb_forms), backend)

    def _add(self, ident: str, no: int, kind: str) -> None:
        if ident.isascii():
            self.forms.setdefault(ident.encode().lower(), (no, "ascii", kind))
            if not ident.isalnum():  # Zhang%5ESan, Zhang%20San in links
                quoted = urllib.parse.quote(ident, safe="")
                self.forms.setdefault(quoted.encode().lower(), (no, "url-encoded", kind))
            return
        self.forms.setdefault(ident.encode("utf-8").lower(), (no, "utf-8", kind))
        with contextlib.suppress(UnicodeEncodeError):  # a character GB18030 cannot encode: no GB18030 form
            self.gb_forms.setdefault(ident.encode("gb18030"), (no, "gb18030", kind))
        # how JSON (plotly figures, ensure_ascii) and HTML escape non-ASCII text
        for form, text in (
            ("json-escape", "".join(c if c.isascii() else f"\\u{ord(c):04x}" for c in ident)),
            ("html-entity", "".join(c if c.isascii() else f"&#{ord(c)};" for c in ident)),
            ("html-entity", "".join(c if c.isascii() else f"&#x{ord(c):x};" for c in ident)),
            ("url-encoded", urllib.parse.quote(ident, safe="")),
        ):
            self.forms.setdefault(text.encode().lower(), (no, form, kind))

    def __bool__(self) -> bool:
        return bool(self.forms)

    @property
    def max_len(self) -> int:
        """Length in bytes of the longest pattern."""
        return max((len(p) for p in (*self.forms, *self.gb_forms)), default=1)

    def search(
        self, data: bytes, *, binary: bool = False, utf8_only: bool = False, lo: int = 0, hi: int | None = None
    ) -> Iterator[tuple[int, int, str]]:
        """Yield ``(offset, identifier no, form)`` for every occurrence on token boundaries.

        ASCII letters match case-insensitively. ``binary`` skips short byte patterns;
        ``utf8_only`` skips GB18030 forms (for text known to be valid UTF-8, where a GB18030
        byte pattern can only match by accident). Only matches lying within ``data[lo:hi]`` are
        yielded; the bytes outside are still read to judge boundaries (chunked files).
        """
        hi = len(data) if hi is None else hi
        for off, end, no, form, kind in self._search(data, binary=binary, utf8_only=utf8_only):
            if off >= lo and end <= hi and bounded(data, off, end, kind, legacy=not utf8_only):
                yield off, no, form

    def _search(
        self, data: bytes, *, binary: bool = False, utf8_only: bool = False
    ) -> Iterator[tuple[int, int, int, str, str]]:
        """Raw matches, boundaries not judged: ``(start, end, no, form, kind)``."""
        if not self.forms or not data:
            return
        seen: set[tuple[int, int]] = set()
        passes = [(self._main, self.forms, data.lower())]
        if not utf8_only and self.gb_forms:
            passes.append((self._gb, self.gb_forms, data))
        for automaton, forms, hay in passes:
            for off, pat in automaton.find(hay):
                if binary and len(pat) < MIN_BINARY_BYTES:
                    continue
                no, form, kind = forms[pat]
                if (off, no) not in seen:
                    seen.add((off, no))
                    yield off, off + len(pat), no, form, kind

    def in_arrow(self, arr: Any) -> Iterator[tuple[int, int]]:
        """``(value index, identifier no)`` over a pyarrow string array, searched in its data
        buffer directly (no Python object per value); the edges of a value are token boundaries
        and matches across two values are dropped."""
        import numpy as np
        import pyarrow as pa

        if not self.forms or len(arr) == 0:
            return
        if pa.types.is_string(arr.type):
            width: Any = np.int32
        elif pa.types.is_large_string(arr.type):
            width = np.int64
        else:
            msg = f"in_arrow needs a string array, not {arr.type}"
            raise TypeError(msg)
        _, obuf, dbuf = arr.buffers()
        offsets = np.frombuffer(obuf, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
        if dbuf is None or offsets[-1] == offsets[0]:
            return
        data = dbuf.to_pybytes()[int(offsets[0]) : int(offsets[-1])]
        rel = offsets - offsets[0]
        for off, end, no, _, kind in self._search(data, utf8_only=True):
            i = int(np.searchsorted(rel, off, side="right")) - 1
            lo, hi = int(rel[i]), int(rel[i + 1])
            if end <= hi and bounded(data, off, end, kind, lo=lo, hi=hi):
                yield i, no

    def in_text(self, text: str) -> set[int]:
        """Identifier numbers found in a string."""
        return {no for _, no, _ in self.search(text.encode("utf-8", "surrogatepass"), utf8_only=True)}

    def in_values(self, values: list[str]) -> Iterator[tuple[int, int]]:
        """``(value index, identifier no)`` over many strings, searched as one buffer."""
        if not values or not self.forms:
            return
        starts, parts, pos = [], [], 0
        for v in values:
            b = v.encode("utf-8", "surrogatepass")
            starts.append(pos)
            parts.append(b)
            pos += len(b) + 1
        buf = b"\x00".join(parts)  # NUL: a boundary, and never inside a pattern
        for off, no, _ in self.search(buf, utf8_only=True):
            yield bisect.bisect_right(starts, off) - 1, no
