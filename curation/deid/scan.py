"""The leak scan: every identifier, in every output file, in every form it could take.

Each file is read by its format: Parquet cells, column names and metadata (pyarrow); h5ad /
HDF5 names, attributes and string or integer datasets (h5py); DICOM elements with each PN
component group (pydicom) plus the raw header bytes; zip members; text files (notebooks, HTML,
JSON, CSV, logs) as bytes, in UTF-8 and GB18030 and as JSON ``\\uXXXX`` / HTML ``&#...;`` / URL
``%XX`` escapes, and UTF-16 (LE / BE) text transcoded; file and folder names. Matching is one
Aho-Corasick pass over bytes (ahocorasick-rs; else pyahocorasick; else a compiled regex
alternation); each raw match is then kept or dropped by looking at the bytes beside it.

Token boundaries (plain substrings raise false alarms on real data):

- a numeric identifier (digits and separators, no letter) matches only where no digit, decimal
  point or sign touches it: ``11111111`` is not found in ``0.1111111111111111``, ``-11111111``,
  ``11111111.5`` or ``211111111``; it is found in ``MRN11111111``, ``11111111.dcm`` and
  ``11111111-2`` (a letter, a file suffix or a hyphen after it is no number);
- an alphanumeric identifier matches only where no ASCII letter or digit touches it: ``P001``
  is found in ``P001_ct.dcm`` and ``患者P001复查``, not in ``AP001X``;
- an identifier with a CJK character matches anywhere (Chinese text has no spaces);
- a neighbour seen through an escape counts as the character it stands for (``\\u5f20P001`` is
  a boundary, ``%41P001`` is not), and a JSON ``\\n`` is white space;
- identifiers with fewer than :data:`MIN_LEN` letters or digits (2 for CJK), or made only of
  separators and punctuation (``^^^^``), are not searched; they are counted in the result.

A hit names the file and the field and the identifier's index in the list (its line number in
the identifiers file), never the identifier: the scan's own report must not leak.
"""

from __future__ import annotations

import bisect
import codecs
import gzip
import io
import re
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MIN_LEN = 4
# In binary payloads (pixels, compressed streams) a 4-byte pattern matches by chance about once
# per 4 GB per identifier; only longer byte patterns are searched there.
MIN_BINARY_BYTES = 6
TEXT_SUFFIXES = {".ipynb", ".html", ".htm", ".json", ".csv", ".tsv", ".txt", ".log", ".md", ".yaml", ".yml",
                 ".xml", ".js", ".css", ".svg", ".vcf", ".maf", ".tex", ".rst", ".py", ".sha256", ".toml"}
H5_SUFFIXES = {".h5ad", ".h5", ".hdf5", ".h5mu", ".loom"}
ZIP_SUFFIXES = {".zip", ".xlsx", ".docx", ".pptx", ".odt", ".ods", ".whl"}
H5_BULK = ("X", "layers", "raw", "obsm", "varm", "obsp", "varp")
H5_INT_LIMIT = 1_000_000
# Bytes looked at on either side of a match (the longest escape, ``\\uXXXX``, is 6).
LOOK = 8

# How an identifier is delimited (see the module docstring).
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


class ScanResult(list[LeakHit]):
    """The sorted hits of a scan (a list, empty when clean), and what the scan did not search.

    Attributes
    ----------
    n_files
        Files whose contents were searched.
    n_identifiers
        Identifiers searched (after skipping).
    skipped
        Identifiers not searched, by reason: ``short`` (fewer than :data:`MIN_LEN` letters or
        digits; 2 for CJK) or ``separators`` (no letter or digit at all).
    skipped_numbers
        Their numbers (line numbers in the identifiers file), never their values.
    paths
        Every on-disk path (relative to the root; a file, a folder or a link) that holds a hit
        in its contents or its own name, mapped to its display form (``<redacted>`` components).
        The keys can contain identifiers: use them to act on the files, print only the values.
    found
        The same on-disk paths mapped to the identifier numbers found in them (0: the file could
        not be read by its format).
    """

    n_files: int = 0
    n_identifiers: int = 0
    skipped: dict[str, int]
    skipped_numbers: list[int]
    paths: dict[str, str]
    found: dict[str, set[int]]

    def __init__(self, hits: Iterable[LeakHit] = ()) -> None:
        super().__init__(sorted(hits))
        self.skipped = {}
        self.skipped_numbers = []
        self.paths = {}
        self.found = {}

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def describe_skipped(self) -> str:
        """``3 identifiers not searched (2 shorter than 4 characters, 1 only separators)``, or ``""``."""
        if not self.n_skipped:
            return ""
        parts = []
        if self.skipped.get(SKIP_SHORT):
            parts.append(f"{self.skipped[SKIP_SHORT]} shorter than {MIN_LEN} letters or digits")
        if self.skipped.get(SKIP_SEPARATORS):
            parts.append(f"{self.skipped[SKIP_SEPARATORS]} only separators or punctuation")
        return f"{self.n_skipped} identifier(s) not searched ({', '.join(parts)})"


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
        pattern, n_alnum = ident[alnum[0]: alnum[-1] + 1], len(alnum)
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
    if off - 6 >= lo and data[off - 6] == _BACKSLASH and data[off - 5] in (0x75, 0x55) \
            and all(c in _HEX for c in data[off - 4: off]):
        return int(data[off - 4: off], 16)  # JSON \uXXXX
    if off - 2 >= lo and data[off - 2] == _BACKSLASH and b in _JSON_ESCAPES:
        return _SPACE  # JSON \n, \t ...
    if off - 3 >= lo and data[off - 3] == _PERCENT and data[off - 2] in _HEX and b in _HEX:
        return int(data[off - 2: off], 16)  # URL %XX
    return b


def _next(data: bytes, end: int, hi: int) -> int:
    """The character at ``data[end]`` as a code point (-1 at the end), read through escapes."""
    if end >= hi:
        return -1
    b = data[end]
    if b == _BACKSLASH and end + 1 < hi:
        n = data[end + 1]
        if n in (0x75, 0x55) and end + 6 <= hi and all(c in _HEX for c in data[end + 2: end + 6]):
            return int(data[end + 2: end + 6], 16)
        if n in _JSON_ESCAPES:
            return _SPACE
    if b == _PERCENT and end + 3 <= hi and data[end + 1] in _HEX and data[end + 2] in _HEX:
        return int(data[end + 1: end + 3], 16)
    return b


def bounded(data: bytes, off: int, end: int, kind: str, *, lo: int = 0, hi: int | None = None,
            legacy: bool = False) -> bool:
    """Whether the match ``data[off:end]`` of an identifier of ``kind`` stands on token boundaries.

    ``lo`` / ``hi`` limit the value the match lies in (bytes outside it are boundaries);
    ``legacy``: the bytes may be GB18030, where an ASCII letter or digit right after a byte >= 0x81
    can be the trail byte of a Chinese character, hence a boundary.
    """
    if kind == ANYWHERE:
        return True
    hi = len(data) if hi is None else hi
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
        self._regex = re.compile(b"(?=(" + b"|".join(re.escape(p) for p in sorted(patterns, key=len, reverse=True))
                                 + b"))")
        self._set = set(patterns)

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
        try:
            self.gb_forms.setdefault(ident.encode("gb18030"), (no, "gb18030", kind))
        except UnicodeEncodeError:
            pass
        # how JSON (plotly figures, ensure_ascii) and HTML escape non-ASCII text
        for form, text in (("json-escape", "".join(c if c.isascii() else f"\\u{ord(c):04x}" for c in ident)),
                           ("html-entity", "".join(c if c.isascii() else f"&#{ord(c)};" for c in ident)),
                           ("html-entity", "".join(c if c.isascii() else f"&#x{ord(c):x};" for c in ident)),
                           ("url-encoded", urllib.parse.quote(ident, safe=""))):
            self.forms.setdefault(text.encode().lower(), (no, form, kind))

    def __bool__(self) -> bool:
        return bool(self.forms)

    @property
    def max_len(self) -> int:
        """Length in bytes of the longest pattern."""
        return max((len(p) for p in (*self.forms, *self.gb_forms)), default=1)

    def search(self, data: bytes, *, binary: bool = False, utf8_only: bool = False, lo: int = 0,
               hi: int | None = None) -> Iterator[tuple[int, int, str]]:
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

    def _search(self, data: bytes, *, binary: bool = False, utf8_only: bool = False
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
        offsets = np.frombuffer(obuf, dtype=width)[arr.offset: arr.offset + len(arr) + 1]
        if dbuf is None or offsets[-1] == offsets[0]:
            return
        data = dbuf.to_pybytes()[int(offsets[0]): int(offsets[-1])]
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


# --- per-format readers ---------------------------------------------------------------------

Src = bytes | Path  # a file on disk, or the bytes of a member of a zip / gzip file
CHUNK = 64 * 1024 * 1024


def _head(src: Src, n: int = 132) -> bytes:
    if isinstance(src, bytes):
        return src[:n]
    with open(src, "rb") as fh:
        return fh.read(n)


def _read(src: Src) -> bytes:
    return src if isinstance(src, bytes) else src.read_bytes()


def _handle(src: Src) -> Any:
    return io.BytesIO(src) if isinstance(src, bytes) else str(src)


def _binary(src: Src) -> Any:
    return io.BytesIO(src) if isinstance(src, bytes) else open(src, "rb")  # the caller closes it (`with`)


def _chunks(src: Src, overlap: int) -> Iterator[tuple[bytes, bool]]:
    """``(chunk, is_last)``; each chunk starts with the last ``overlap`` bytes of the previous."""
    if isinstance(src, bytes) or src.stat().st_size <= CHUNK:
        yield _read(src), True
        return
    with open(src, "rb") as fh:
        tail = b""
        while True:
            block = fh.read(CHUNK)
            last = len(block) < CHUNK
            chunk = tail + block
            yield chunk, last
            if last:
                return
            tail = chunk[len(chunk) - min(overlap, len(chunk)):] if overlap else b""


def _utf16_chunks(src: Src, encoding: str, overlap: int) -> Iterator[tuple[bytes, bool]]:
    """As :func:`_chunks`, for a UTF-16 file: its text transcoded to UTF-8."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    tail = b""
    with _binary(src) as fh:
        while True:
            block = fh.read(CHUNK)
            last = len(block) < CHUNK
            chunk = tail + decoder.decode(block, final=last).encode("utf-8", "surrogatepass")
            yield chunk, last
            if last:
                return
            tail = chunk[len(chunk) - min(overlap, len(chunk)):] if overlap else b""


def utf16_encoding(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when bytes look like UTF-16 text (a BOM, or NUL bytes at
    every other position as ASCII text in UTF-16 has), else None."""
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return None  # UTF-32
    if head[:2] == b"\xff\xfe":
        return "utf-16-le"
    if head[:2] == b"\xfe\xff":
        return "utf-16-be"
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 16:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.4 * len(odd) and even.count(0) <= 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.4 * len(even) and odd.count(0) <= 0.05 * len(odd):
        return "utf-16-be"
    return None


def _valid_utf8(chunk: bytes) -> bool:
    """Whether a chunk is UTF-8, allowing a character cut at either end by chunking."""
    lead = 0
    while lead < 3 and lead < len(chunk) and 0x80 <= chunk[lead] <= 0xBF:
        lead += 1
    try:
        chunk[lead:].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data" and exc.start >= len(chunk) - lead - 3
    return True


class _Scan:
    def __init__(self, root: Path, matcher: Matcher) -> None:
        self.root = root
        self.m = matcher
        self.hits: set[LeakHit] = set()
        self._paths: dict[str, str] = {}
        self.current = ""  # the on-disk entry being scanned (a zip's members report to the zip)
        self.flagged: dict[str, str] = {}  # on-disk entry with a hit -> its display path
        self.found: dict[str, set[int]] = {}  # on-disk entry with a hit -> identifier numbers
        # chunks overlap by a pattern plus the bytes looked at on either side of it
        self.overlap = self.m.max_len + 2 * LOOK

    def safe(self, name: str) -> str:
        return "<redacted>" if self.m.in_text(name) else name

    def safe_path(self, rel: str) -> str:
        if rel not in self._paths:
            self._paths[rel] = "/".join(self.safe(p) for p in PurePosixPath(rel).parts)
        return self._paths[rel]

    def hit(self, rel: str, location: str, no: int) -> None:
        self.hits.add(LeakHit(self.safe_path(rel), location, no))
        if self.current not in self.flagged:
            self.flagged[self.current] = self.safe_path(self.current)
        self.found.setdefault(self.current, set()).add(no)

    def name(self, rel: str, *, folder: bool) -> None:
        """The last component of ``rel`` (parents are visited on their own)."""
        for no in self.m.in_text(PurePosixPath(rel).name):
            self.hit(rel, "folder name" if folder else "file name", no)

    # dispatch
    def file(self, rel: str, src: Src, *, name: str | None = None) -> None:
        """Scan one file's contents; ``name`` (default ``rel``) decides its format by suffix."""
        name = name or rel
        suffix = PurePosixPath(name).suffix.lower()
        try:
            head = _head(src)
            if suffix == ".parquet" or head[:4] == b"PAR1":
                self.parquet(rel, src)
            elif suffix in H5_SUFFIXES or head[:8] == b"\x89HDF\r\n\x1a\n":
                self.hdf5(rel, src)
            elif suffix == ".dcm" or head[128:132] == b"DICM":
                self.dicom(rel, src)
            elif suffix in ZIP_SUFFIXES or head[:4] == b"PK\x03\x04":
                self.zipped(rel, src)
            elif suffix == ".gz":  # BGZF (.vcf.gz) is multi-member gzip: decompress reads it all
                self.file(rel, gzip.decompress(_read(src)), name=name[:-3])
            else:
                self.bytes_(rel, src, name=name)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is still scanned as bytes
            # fail closed: a file whose fields could not be read is not known to be clean
            self.hit(rel, f"unreadable as {suffix or 'its format'} ({type(exc).__name__}); "
                     "only its raw bytes were searched", 0)
            try:
                self.bytes_(rel, src, name=name)
            except OSError:
                pass  # not even readable as bytes: already reported above

    def bytes_(self, rel: str, src: Src, *, where: str = "", name: str | None = None, header: bool = False
               ) -> None:
        """Raw bytes, in chunks that overlap by the longest pattern (files of any size); UTF-16
        text a second time, transcoded.

        ``header``: a DICOM header (a few KB of mostly text between binary lengths), searched
        with every pattern, short GB18030 names included; locations are byte offsets.
        """
        suffix = PurePosixPath(name or rel).suffix.lower()
        self._chunked(rel, _chunks(src, self.overlap), where=where, suffix=suffix, header=header)
        encoding = None if header else utf16_encoding(_head(src, 4096))
        if encoding:
            self._chunked(rel, _utf16_chunks(src, encoding, self.overlap), where=where, suffix=".txt",
                          label=encoding)

    def _chunked(self, rel: str, chunks: Iterator[tuple[bytes, bool]], *, where: str, suffix: str,
                 header: bool = False, label: str = "") -> None:
        seen: set[tuple[int, int]] = set()
        base = lines_before = 0
        for chunk, last in chunks:
            utf8 = _valid_utf8(chunk)
            texty = suffix in TEXT_SUFFIXES or utf8 or b"\x00" not in chunk[:8192]
            # a match is judged in the chunk that holds LOOK bytes on both of its sides
            lo, hi = (LOOK if base else 0), (len(chunk) if last else len(chunk) - LOOK)
            for off, no, form in self.m.search(chunk, binary=not (texty or header), utf8_only=utf8, lo=lo, hi=hi):
                if (base + off, no) in seen:
                    continue
                seen.add((base + off, no))
                line = lines_before + chunk.count(b"\n", 0, off) + 1
                loc = f"line {line}" if texty else f"byte {base + off}"
                self.hit(rel, f"{where}{loc} ({label or form})", no)
            if not last:
                keep = min(self.overlap, len(chunk))
                lines_before += chunk.count(b"\n", 0, len(chunk) - keep)
                base += len(chunk) - keep

    def parquet(self, rel: str, src: Src) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(_handle(src))
        meta = pf.schema_arrow.metadata or {}
        for k, v in meta.items():
            for no in self.m.in_text(k.decode("utf-8", "replace")) | self.m.in_text(v.decode("utf-8", "replace")):
                self.hit(rel, "schema metadata", no)
            for _, no, form in self.m.search(v):
                self.hit(rel, f"schema metadata ({form})", no)
        table = pf.read()
        for j, name in enumerate(table.column_names):
            for no in self.m.in_text(name):
                self.hit(rel, f"column name #{j + 1}", no)
            col = table.column(j)
            label = f"column {self.safe(name)!r}"
            try:
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
                    t = col.type
                    if pa.types.is_floating(t) or pa.types.is_temporal(t) or pa.types.is_boolean(t):
                        continue  # a float, date or flag cannot spell a name or an ID
                    col = col.cast(pa.string())
                uniq_arr = pc.unique(col)
                if isinstance(uniq_arr, pa.ChunkedArray):
                    uniq_arr = uniq_arr.combine_chunks()
                found = dict.fromkeys(self.m.in_arrow(uniq_arr))
                uniq = uniq_arr.to_pylist() if found else []
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
                uniq = sorted({str(v) for v in col.to_pylist() if v is not None})
                found = dict.fromkeys(self.m.in_values([str(u) for u in uniq]))
            values: list[Any] = []
            for i, no in found:
                values = values or col.to_pylist()
                row = next((r for r, v in enumerate(values) if v is not None and str(v) == str(uniq[i])), -1)
                self.hit(rel, f"{label} row {row}", no)

    def hdf5(self, rel: str, src: Src) -> None:
        import h5py
        import numpy as np

        def strings(value: Any) -> list[str]:
            arr = np.asarray(value)
            if arr.dtype.kind in "SO":
                return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel()]
            if arr.dtype.kind == "U":
                return [str(v) for v in arr.ravel()]
            if arr.dtype.kind in "iu" and arr.size <= H5_INT_LIMIT:
                return [str(v) for v in np.unique(arr)]
            return []

        def raw_bytes(value: Any) -> list[bytes]:
            arr = np.asarray(value)
            if arr.dtype.kind == "S":
                return [bytes(v) for v in arr.ravel()]
            if arr.dtype.kind == "O":
                return [v for v in arr.ravel() if isinstance(v, bytes)]
            return []

        with h5py.File(_handle(src), "r") as f:

            def visit(name: str, obj: Any) -> None:
                label = "/".join(self.safe(p) for p in name.split("/"))
                for no in self.m.in_text(name.rsplit("/", 1)[-1]):
                    self.hit(rel, f"HDF5 name {label}", no)
                for key, val in obj.attrs.items():
                    vals = [key, *strings(val)]
                    for _, no in self.m.in_values(vals):
                        self.hit(rel, f"{label} attribute {self.safe(key)!r}", no)
                    for b in raw_bytes(val):
                        for _, no, form in self.m.search(b):
                            self.hit(rel, f"{label} attribute {self.safe(key)!r} ({form})", no)
                if isinstance(obj, h5py.Dataset):
                    top = name.split("/", 1)[0]
                    if top in H5_BULK and obj.dtype.kind not in "SOU":
                        return
                    value = obj[()]
                    for i, no in self.m.in_values(strings(value)):
                        self.hit(rel, f"{label} value {i}", no)
                    for b in raw_bytes(value):
                        for _, no, form in self.m.search(b):
                            self.hit(rel, f"{label} ({form})", no)

            visit("", f)
            f.visititems(visit)

    def dicom(self, rel: str, src: Src) -> None:
        import warnings

        import pydicom

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warnings quote raw values
            with _binary(src) as fp:
                ds = pydicom.dcmread(fp, force=True, stop_before_pixels=True)
                header_end = fp.tell()
                fp.seek(0)
                header = fp.read(header_end)  # pixel data are not read: pixels are not text
            self.bytes_(rel, header, where="header ", header=True)
            strings: list[tuple[str, str]] = []
            self._dicom_items(rel, getattr(ds, "file_meta", None), "file_meta", strings)
            self._dicom_items(rel, ds, "", strings)
            # one search over all of the file's strings
            for i, no in self.m.in_values([v for _, v in strings]):
                self.hit(rel, strings[i][0], no)

    def _dicom_items(self, rel: str, ds: Any, prefix: str, strings: list[tuple[str, str]]) -> None:
        if ds is None:
            return
        for elem in ds:
            name = elem.keyword or f"({elem.tag.group:04X},{elem.tag.element:04X})"
            where = f"{prefix}.{name}" if prefix else name
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value or []):
                    self._dicom_items(rel, item, f"{where}[{i}]", strings)
                continue
            value = elem.value
            values = list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" \
                else [value]
            for v in values:
                if v is None:
                    continue
                if elem.VR == "PN":
                    self._pn(rel, where, v, strings)
                elif isinstance(v, bytes):
                    if elem.tag == 0x7FE00010:
                        continue
                    for _, no, form in self.m.search(v, binary=len(v) > 65536):
                        self.hit(rel, f"{where} ({form})", no)
                else:
                    strings.append((where, str(v)))

    def _pn(self, rel: str, where: str, value: Any, strings: list[tuple[str, str]]) -> None:
        groups = str(value).split("=")
        labels = ("alphabetic", "ideographic", "phonetic")
        strings.append((where, str(value)))
        for gi, group in enumerate(groups[:3]):
            loc = f"{where} ({labels[gi]})"
            for variant in (group, group.replace("^", " "), group.replace("^", ""), *group.split("^")):
                strings.append((loc, variant))
        original = getattr(value, "original_string", None)
        if isinstance(original, bytes):
            for _, no, form in self.m.search(original):
                self.hit(rel, f"{where} (encoded, {form})", no)

    def zipped(self, rel: str, src: Src) -> None:
        with zipfile.ZipFile(_handle(src)) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                member = f"{rel}/{info.filename}"
                parts = PurePosixPath(info.filename).parts
                for k in range(len(parts)):
                    self.name(f"{rel}/{'/'.join(parts[:k + 1])}", folder=k < len(parts) - 1)
                self.file(member, zf.read(info))


def read_identifiers(path: str | Path) -> list[tuple[int, str]]:
    """``(line number, identifier)`` for each non-empty line of an identifiers file (UTF-8)."""
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    return [(i, s.strip()) for i, s in enumerate(lines, start=1) if s.strip()]


def scan_bundle(
    root: Path,
    identifiers: Iterable[str] | Iterable[tuple[int, str]] | Matcher,
    *,
    exclude: Iterable[Path] = (),
    paths: Iterable[Path] | None = None,
) -> ScanResult:
    """Search every file under ``root`` (names and contents) for every identifier.

    Parameters
    ----------
    root
        The output bundle (or any folder).
    identifiers
        The identifiers (numbered 1, 2, ... in the hits), or ``(number, identifier)`` pairs as
        returned by :func:`read_identifiers`, or a :class:`Matcher` built from them (to scan
        again without building it again). Identifiers with fewer than 4 letters or digits (2 for
        CJK), or made only of separators, are skipped and counted (``result.skipped``).
    exclude
        Files not to scan (the identifiers file itself, when it sits inside ``root``).
    paths
        Scan only these entries under ``root`` (their names and contents), not the whole tree.

    Returns
    -------
    The sorted hits, empty when the bundle is clean, with what was skipped and which on-disk
    paths hold hits (:class:`ScanResult`). A file that could not be read by its format (corrupt
    Parquet, say) is searched as raw bytes and also reported, with identifier 0: it is not known
    to be clean.
    """
    if isinstance(identifiers, Matcher):
        matcher = identifiers
    else:
        # a set has no order: sort it so that identifier numbers are stable between runs
        items = sorted(identifiers, key=str) if isinstance(identifiers, set | frozenset) else list(identifiers)
        matcher = Matcher(x if isinstance(x, tuple) else (i, str(x)) for i, x in enumerate(items, start=1))
    result = ScanResult()
    result.skipped = dict(Counter(matcher.skipped.values()))
    result.skipped_numbers = sorted(matcher.skipped)
    result.n_identifiers = len(matcher.searched)
    if not matcher:
        return result
    scan = _Scan(Path(root), matcher)
    skip = {Path(p).resolve() for p in exclude}
    entries = sorted(Path(root).rglob("*")) if paths is None else sorted(Path(p) for p in paths)
    for path in entries:
        if path.resolve() in skip or not (path.is_symlink() or path.exists()):
            continue
        rel = path.relative_to(root).as_posix()
        scan.current = rel
        scan.name(rel, folder=path.is_dir())  # every entry's name, links and dangling links included
        if path.is_file():
            scan.file(rel, path)
            result.n_files += 1
    result.extend(sorted(scan.hits))
    result.paths = scan.flagged
    result.found = scan.found
    return result
