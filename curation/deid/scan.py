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

The matching lives in :mod:`._scanmatch`, the per-format readers in :mod:`._scanformats`; their
public names are importable from here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ._scanformats import H5_SUFFIXES, TEXT_SUFFIXES, ZIP_SUFFIXES, _Scan, utf16_encoding
from ._scanmatch import (
    ANYWHERE,
    LOOK,
    MIN_BINARY_BYTES,
    MIN_LEN,
    NUMERIC,
    SKIP_SEPARATORS,
    SKIP_SHORT,
    WORD,
    LeakHit,
    Matcher,
    bounded,
    classify,
)

__all__ = [
    "ANYWHERE",
    "H5_SUFFIXES",
    "LOOK",
    "MIN_BINARY_BYTES",
    "MIN_LEN",
    "NUMERIC",
    "SKIP_SEPARATORS",
    "SKIP_SHORT",
    "TEXT_SUFFIXES",
    "WORD",
    "ZIP_SUFFIXES",
    "LeakHit",
    "Matcher",
    "ScanResult",
    "bounded",
    "classify",
    "file_groups",
    "read_identifiers",
    "scan_bundle",
    "scan_group",
    "utf16_encoding",
]


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
        """Identifier values not searched (too short or only separators), all reasons together."""
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
    skip = {Path(p).resolve() for p in exclude}
    entries = sorted(Path(root).rglob("*")) if paths is None else sorted(Path(p) for p in paths)
    rels = [
        p.relative_to(root).as_posix() for p in entries if p.resolve() not in skip and (p.is_symlink() or p.exists())
    ]
    from ..parallel import map_chunks

    # one task per file group on the run's Dask cluster, if it has one; here one after the other otherwise
    for hits, flagged, found, n_files in map_chunks(scan_group, file_groups(root, rels), shared=(str(root), matcher)):
        result.extend(hits)
        result.paths.update(flagged)
        result.found.update(found)  # an entry (a zip with its members) is in one group only
        result.n_files += n_files
    result.sort()
    return result


GROUP_BYTES = 64 << 20  # a task scans about this much (small files add 64 KiB each: opening costs too)


def file_groups(root: Path, rels: list[str], *, size: int | None = None) -> list[list[str]]:
    """``rels`` cut into runs of about ``size`` bytes (:data:`GROUP_BYTES`), in order: the scan's tasks."""
    size = size or GROUP_BYTES
    groups: list[list[str]] = [[]]
    held = 0
    for rel in rels:
        path = Path(root) / rel
        cost = (64 << 10) + (path.stat().st_size if path.is_file() and not path.is_symlink() else 0)
        if groups[-1] and held + cost > size:
            groups.append([])
            held = 0
        groups[-1].append(rel)
        held += cost
    return groups if groups[0] else []


def scan_group(
    groups: list[list[str]], root: str, matcher: Matcher
) -> list[tuple[list[LeakHit], dict[str, str], dict[str, set[int]], int]]:
    """Scan the names and contents of each group of entries under ``root`` (one task of :func:`scan_bundle`):
    per group its hits, the on-disk entries with a hit (display paths, identifier numbers), files read."""
    out = []
    for rels in groups:
        scan = _Scan(Path(root), matcher)
        n_files = 0
        for rel in rels:
            path = Path(root) / rel
            scan.current = rel
            scan.name(rel, folder=path.is_dir())  # every entry's name, links and dangling links included
            if path.is_file():
                scan.file(rel, path)
                n_files += 1
        out.append((sorted(scan.hits), scan.flagged, scan.found, n_files))
    return out
