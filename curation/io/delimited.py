"""CSV / TSV: read with pyarrow, every record accounted for by an independent, quote-aware count.

A record is a physical line (``\n``, ``\r\n`` or ``\r``; never U+2028, U+0085 or the other
characters ``str.splitlines`` breaks on) unless a quoted value carries it over to the next line,
which takes a line with an odd number of quotes. Two readers share the work:

- pyarrow (fast) reads every run of lines between such lines, where each non-blank line is
  exactly one record; its rows plus the rows it rejects must equal the lines it was given, or the
  run is read again by
- Python's ``csv`` module (careful), record by record with the lines each record spans; it also
  reads the record that starts on each odd-quote line. A record that spans several lines and does
  not have the header's field count, whose quote never closes, or whose inner lines read as records
  of their own, is not a record: its first line is set aside (``unclosed_quote``) and the lines
  after it are read again on their own. One bad quote costs one line, never the rest of the file.

Finally, every non-blank line must belong to a returned record or to a line set aside; any that
does not is reported as ``unparsed_records`` with its line range. The record count that goes to
the ledger (``RawTable.n_records``) is that independent count, not the parser's row count.

The lines are held as the file's UTF-8 bytes and the offsets of each line (:class:`ByteLines`; a
GB18030 or UTF-16 file is decoded once and re-encoded): blank and odd-quote lines are found with
numpy, pyarrow reads a view of the bytes, and only the lines the careful reader asks for become
strings. A file with undecodable bytes or a lone ``\r`` is decoded and split into line strings
instead (the same counting, slower).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

import numpy as np
import pandas as pd

from ..errors import SourceError
from .readers import (
    LINE,
    MAX_UNDECODABLE,
    STR,
    BadLine,
    RawTable,
    SourceReadError,
    _decode_tolerant,
    _dedupe,
    _detect,
    detect_encoding,
    is_utf8,
)
from .values import has_control

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ByteLines", "physical_lines", "read_delimited"]

QUOTE = '"'
_BLANK = re.compile(rb"[ \t\n\r\x0b\x0c]*\Z")  # what bytes.strip() removes, without copying the file


def physical_lines(text: str) -> list[str]:
    """Split on the line breaks CSV parsers know (``\\r\\n``, ``\\n``, ``\\r``) and nothing else."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


BOM = b"\xef\xbb\xbf"
_BREAK, _CR, _QUOTE = 0x0A, 0x0D, 0x22
# ASCII bytes str.strip() keeps: a line holding one is not blank (the other whitespace is multi-byte)
_INK = np.ones(256, dtype=bool)
_INK[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = False
_INK[0x80:] = False


class ByteLines(Sequence[str]):
    """The physical lines of a UTF-8 file, kept as its bytes and the offsets of each line; a line is
    decoded only when asked (the careful reader asks for few), and pyarrow reads the bytes as they
    are. Neither a decoded copy of the file nor a string per line is held: on a million-line export
    those took ~10x the file's size, and building them most of the read's time.

    Made by :meth:`of` for a valid UTF-8 file whose line breaks are ``\\n`` or ``\\r\\n`` (a lone
    ``\\r`` is a break too: such files take the text path).
    """

    def __init__(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> None:
        self.data, self.starts, self.ends = data, starts, ends

    @classmethod
    def of(cls, data: bytes, enc: str) -> ByteLines | None:
        """The lines of ``data`` read as ``enc``, or None when that is not plain UTF-8 (other encodings,
        undecodable bytes, a lone ``\\r``): then the text path decodes and splits the file."""
        try:
            name = codecs.lookup(enc).name
        except LookupError:
            return None  # the text path names the wrong encoding
        if name not in ("utf-8", "utf-8-sig") or not is_utf8(data):
            return None
        skip = len(BOM) if data.startswith(BOM) else 0  # the text path's removeprefix("\\ufeff")
        if name == "utf-8-sig" and data.startswith(BOM, skip):
            return None  # the codec drops one BOM and the text path the next: leave that to it
        if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
            return None
        arr = np.frombuffer(data, dtype=np.uint8)
        breaks = np.flatnonzero(arr == _BREAK)
        starts = np.concatenate([[skip], breaks + 1])
        ends = np.append(breaks, len(data))
        if b"\r" in data:  # every \r is one of a \r\n: it ends the line's text
            ends[:-1] -= arr[breaks - 1] == _CR
        return cls(data, starts, ends)

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return self.data[self.starts[i] : self.ends[i]].decode("utf-8")

    def _per_line(self, flags: np.ndarray, ufunc: np.ufunc, rows: np.ndarray) -> np.ndarray:
        """``ufunc`` reduced over each of the lines ``rows`` (indices) of a per-byte ``flags`` array;
        False for an empty line."""
        out = np.zeros(len(rows), dtype=bool)
        s, e = self.starts[rows], self.ends[rows]
        full = np.flatnonzero(e > s)
        if not len(full):
            return out
        # reduceat over (start, end) pairs: every other result is a line, the others the gaps between
        idx = np.empty(2 * len(full), dtype=np.int64)
        idx[0::2], idx[1::2] = s[full], e[full]
        if idx[-1] >= len(flags):  # a line that runs to the end of the file: its segment is the last
            idx = idx[:-1]
        out[full] = ufunc.reduceat(flags, idx)[0::2]
        return out

    def nonblank(self) -> np.ndarray:
        """Per line, whether ``line.strip()`` holds anything: a printable ASCII byte says so at once;
        the few lines without one (blank, or Unicode text only) are decoded and stripped."""
        arr = np.frombuffer(self.data, dtype=np.uint8)
        first = arr[np.minimum(self.starts, len(arr) - 1)]
        out = (self.ends > self.starts) & _INK[first]
        rest = np.flatnonzero(~out & (self.ends > self.starts))
        if len(rest) > 4096:  # many lines that open with Unicode text: look at all their bytes at once
            out[rest] = self._per_line(_INK[arr], np.logical_or, rest)
            rest = rest[~out[rest]]
        for i in rest.tolist():
            out[i] = bool(self[i].strip())
        return out

    def odd_quotes(self, body: np.ndarray) -> np.ndarray:
        """The lines of ``body`` with an odd number of quotes."""
        arr = np.frombuffer(self.data, dtype=np.uint8)
        return body[self._per_line(arr == _QUOTE, np.logical_xor, body)]

    def blob(self, rows: np.ndarray) -> pa.BufferReader:
        """The bytes of the lines ``rows`` one per line, for pyarrow: a view of the file where the
        lines are consecutive, else the runs of consecutive lines joined."""
        import pyarrow as pa

        buf = pa.py_buffer(self.data)
        cut = np.flatnonzero(np.diff(rows) != 1) + 1
        firsts, lasts = np.split(rows, cut), None
        if len(firsts) == 1:
            a, b = int(self.starts[rows[0]]), int(self.ends[rows[-1]])
            return pa.BufferReader(buf.slice(a, b - a))
        lasts = [int(self.ends[r[-1]]) for r in firsts]
        joined = b"\n".join(self.data[int(self.starts[r[0]]) : e] for r, e in zip(firsts, lasts, strict=True))
        return pa.BufferReader(joined)


def _transcoded(data: bytes, enc: str, text: str | None = None) -> bytes | None:
    """The text of a file in another encoding than UTF-8 (``text``: already decoded), as UTF-8
    bytes (line breaks and quotes are the same characters, so the lines are the same), for
    :class:`ByteLines`; None when it does not decode as a whole (then the text path quarantines
    the undecodable lines)."""
    try:
        if codecs.lookup(enc).name in ("utf-8", "utf-8-sig"):
            return None  # ByteLines.of already said no
        return (data.decode(enc) if text is None else text).encode("utf-8")
    except (LookupError, UnicodeError):
        return None


def _decode(path: Path, data: bytes, encoding: str) -> tuple[str, str, list[int]]:
    enc = detect_encoding(path, data=data) if encoding in ("", "auto") else encoding
    undecodable: list[int] = []
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        text, undecodable = _decode_tolerant(data, enc)
        if len(undecodable) > max(1, MAX_UNDECODABLE * (data.count(b"\n") + 1)):
            msg = (
                f"{path.name}: cannot decode as {enc} ({type(exc).__name__} on {len(undecodable)} lines); "
                "fix `encoding:` for this source in cohort.yaml (auto, utf-8, utf-8-sig, gb18030)"
            )
            raise SourceReadError(msg) from None
    except LookupError as exc:
        msg = (
            f"{path.name}: cannot decode as {enc} ({type(exc).__name__}); "
            "fix `encoding:` for this source in cohort.yaml (auto, utf-8, utf-8-sig, gb18030)"
        )
        raise SourceReadError(msg) from None
    return text.removeprefix("\ufeff"), enc, undecodable


def read_delimited(path: Path, *, sep: str, encoding: str, header_row: int = 1) -> RawTable:
    """Read a delimited text export as text columns; see the module docstring for the counting."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"{path.name}: cannot open the file ({type(exc).__name__}); check that it exists and is readable"
        raise SourceReadError(msg) from None
    if _BLANK.match(data):
        return _empty(encoding or "", "0-byte file" if not data else "blank file", has_header=False)
    try:
        enc, text = _detect(path, data) if encoding in ("", "auto") else (encoding, None)
        lines: Sequence[str] | None = ByteLines.of(data, enc)
        if lines is None and (utf8 := _transcoded(data, enc, text)) is not None:
            # a GB18030 or UTF-16 export read as the same text in UTF-8
            if (lines := ByteLines.of(utf8, "utf-8")) is not None:
                data = utf8
            del utf8
        del text
        undecodable: list[int] = []
        if lines is None:  # undecodable bytes or a lone \r: decoded, and split into line strings
            text, enc, undecodable = _decode(path, data, enc)
            lines = physical_lines(text)
            # the modality cleans values only when the file holds a control character
            may_hold_control = has_control(data) if enc.startswith("utf-8") else has_control(text)
            quoted = QUOTE in text
            del text
        else:
            may_hold_control, quoted = has_control(data), b'"' in data
    except SourceReadError:
        raise
    except SourceError as exc:
        raise SourceReadError(str(exc)) from None
    del data  # the lines hold what is needed
    nonblank = lines.nonblank() if isinstance(lines, ByteLines) else np.array([bool(ln.strip()) for ln in lines])
    # lines above the header (export titles such as 导出时间：...) are not data
    at = np.flatnonzero(nonblank[max(0, header_row - 1) :])
    if not len(at):
        return _empty(enc, "blank file" if header_row <= 1 else "nothing at or below `header_row`", has_header=False)
    header_idx = int(at[0]) + max(0, header_row - 1)
    header = next(csv.reader([lines[header_idx]], delimiter=sep))
    names, copies = _dedupe(header)
    body = np.flatnonzero(nonblank)
    body = body[body > header_idx]
    bad_undecodable = [BadLine(n, len(names), 0, "undecodable_line") for n in undecodable if n - 1 > header_idx]
    if not len(body):
        rt = _empty(enc, "header only", has_header=True, names=names)
        rt.bad_lines = bad_undecodable
        rt.n_records = len(bad_undecodable)
        if bad_undecodable:
            rt.empty = ""
        return rt
    frame, first, last, bad = _parse(lines, body, names, sep, odd=_odd_quote_lines(lines, body) if quoted else body[:0])
    bad += _unaccounted(body, first, last, bad)
    bad += bad_undecodable  # blanked by the tolerant decode: in no span, and counted here
    frame.columns = names
    frame[LINE] = pd.array(first + 1, dtype="int64")
    n_records = len(frame) + sum(b.count for b in bad)
    return RawTable(
        frame,
        enc,
        sorted(bad, key=lambda b: b.line),
        n_records=n_records,
        duplicates=copies,
        may_hold_control=may_hold_control,
    )


def _odd_quote_lines(lines: Sequence[str], body: np.ndarray) -> np.ndarray:
    """The body lines with an odd number of quotes (a quoted value may go on past their end)."""
    if isinstance(lines, ByteLines):
        return lines.odd_quotes(body)
    return np.array([i for i in body.tolist() if lines[i].count(QUOTE) & 1], dtype=np.int64)


def _empty(enc: str, why: str, *, has_header: bool, names: list[str] | None = None) -> RawTable:
    cols = {n: pd.Series([], dtype=STR) for n in names or []}
    cols[LINE] = pd.Series([], dtype="int64")
    return RawTable(pd.DataFrame(cols), enc, n_records=0, empty=why, has_header=has_header, may_hold_control=False)


# the records as text columns, the first and last 0-based line of each, and the lines set aside
Parsed = tuple[pd.DataFrame, np.ndarray, np.ndarray, list[BadLine]]
FAST_MIN = 64  # fewer lines than this between odd-quote lines: one careful pass costs less than a pyarrow call


def _parse(lines: Sequence[str], body: np.ndarray, names: list[str], sep: str, *, odd: np.ndarray) -> Parsed:
    """pyarrow over the runs of body lines between the ``odd`` (odd-quote) lines, the careful reader
    for the rest."""
    if not len(odd):
        parsed = _fast(lines, body, names, sep)
        # pyarrow's count disagrees with ours (a quote opened mid-line by an even count): read it all carefully
        return parsed if parsed is not None else _careful(lines, int(body[0]), len(lines), names, sep)[0]
    pieces: list[Parsed] = []
    n = len(lines)
    pos = int(body[0])
    while pos < n:
        k = int(np.searchsorted(odd, pos))  # the first odd-quote line at or after pos
        stop = int(odd[k]) if k < len(odd) else n
        if stop > pos:  # a run of lines that all close their quotes
            run = body[np.searchsorted(body, pos) : np.searchsorted(body, stop)]
            got = _fast(lines, run, names, sep) if len(run) >= FAST_MIN else None
            pieces.append(got if got is not None else _careful(lines, pos, stop, names, sep)[0])
            pos = stop
            continue
        got, pos = _careful(lines, pos, n, names, sep, records=1)  # the record that starts on an odd line
        pieces.append(got)
    frames = [pc[0] for pc in pieces if len(pc[0])]
    frame = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({f"c{i}": pd.Series([], dtype=STR) for i in range(len(names))})
    )
    first = np.concatenate([pc[1] for pc in pieces]) if pieces else np.array([], dtype=np.int64)
    last = np.concatenate([pc[2] for pc in pieces]) if pieces else np.array([], dtype=np.int64)
    return frame, first, last, [bl for pc in pieces for bl in pc[3]]


def _fast(lines: Sequence[str], body: np.ndarray, names: list[str], sep: str) -> Parsed | None:
    """pyarrow over the non-blank body lines, one record per line; None when its rows and rejected
    rows do not add up to the lines given (then the careful reader takes over)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rejected: list[tuple[int, int, int]] = []

    def on_bad(row: pacsv.InvalidRow) -> str:
        rejected.append((-1 if row.number is None else int(row.number), row.expected_columns, row.actual_columns))
        return "skip"

    if not len(body):
        return _careful(lines, 0, 0, names, sep)[0]
    cols = [f"c{i}" for i in range(len(names))]
    if isinstance(lines, ByteLines):
        data = lines.blob(body)
    else:
        contiguous = body[-1] - body[0] + 1 == len(body)  # no blank line in the body: join a slice
        joined = lines[body[0] : body[-1] + 1] if contiguous else (lines[i] for i in body.tolist())
        data = pa.BufferReader("\n".join(joined).encode("utf-8"))

    def read(*, threads: bool) -> pa.Table:
        rejected.clear()
        return pacsv.read_csv(
            data,
            read_options=pacsv.ReadOptions(column_names=cols, use_threads=threads, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_bad),
            convert_options=pacsv.ConvertOptions(
                # large_string: what pandas' Arrow-backed strings hold (pa.string() would be cast, ~0.2 s per 1M rows)
                column_types=dict.fromkeys(cols, pa.large_string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    # pyarrow's threads parse the blocks side by side but cannot number a rejected row: a file with
    # one is read again on one thread (most have none)
    table = read(threads=True)
    if rejected:
        data.seek(0)
        table = read(threads=False)
    if table.num_rows + len(rejected) != len(body) or any(n < 1 or n > len(body) for n, _, _ in rejected):
        return None
    # pyarrow numbers the rows of what it was given: position k is physical line body[k - 1] + 1
    good = np.delete(body, [n - 1 for n, _, _ in rejected])
    bad = [BadLine(int(body[n - 1]) + 1, exp, act) for n, exp, act in rejected]
    df = table.to_pandas(types_mapper=lambda t: STR if t in (pa.string(), pa.large_string()) else None)
    return df, good, good, bad


def _careful(
    lines: Sequence[str], start: int, end: int, names: list[str], sep: str, *, records: int | None = None
) -> tuple[Parsed, int]:
    """Python's csv reader over lines ``start`` to ``end``, record by record, restarted after a line
    whose quote never closes; stops after ``records`` records (accepted or set aside). Returns the
    records and the line to go on from.

    Hand-driven because neither pyarrow nor csv can say which lines a record came from or resume
    after a swallowing quote; ~10 us per record, so it reads only what pyarrow cannot.
    """
    n_fields = len(names)
    rows: list[list[str]] = []
    good: list[tuple[int, int]] = []
    bad: list[BadLine] = []
    pos = start
    n = end
    done = 0
    while pos < n and (records is None or done < records):
        reader = csv.reader((lines[k] + "\n" for k in range(pos, n)), delimiter=sep)
        first = pos
        restart = None
        while records is None or done < records:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error:
                # a quoted value past csv's field limit (128 KiB) is a quote that does not close where
                # a value could end: like any unclosed quote it costs its first line
                bad.append(BadLine(first + 1, n_fields, 0, "unclosed_quote"))
                restart = first + 1
                done += 1
                break
            last = pos + reader.line_num - 1  # index of the last line this record used
            # csv returns a quoted value still open at the end of the file with the line breaks it
            # swallowed, the last one included: such a record never closed (a truncated file)
            unclosed = last == n - 1 and bool(fields) and fields[-1].endswith("\n")
            if last == first:
                if not lines[first].strip():  # a blank line is no record
                    first = last + 1
                    continue
                if unclosed:
                    bad.append(BadLine(first + 1, n_fields, len(fields), "unclosed_quote"))
                elif len(fields) != n_fields:
                    bad.append(BadLine(first + 1, n_fields, len(fields)))
                else:
                    rows.append(fields)
                    good.append((first, first))
                first = last + 1
                done += 1
                continue
            if len(fields) == n_fields and not unclosed and not _swallowed(lines[first + 1 : last], sep, n_fields):
                rows.append(fields)
                good.append((first, last))
                first = last + 1
                done += 1
                continue
            # a quote carried this record over lines it does not fit: the first line is set aside,
            # the reading starts again on the line after it
            reason = "unclosed_quote" if unclosed or lines[first].count(QUOTE) & 1 else "malformed_line"
            bad.append(BadLine(first + 1, n_fields, len(fields), reason))
            restart = first + 1
            done += 1
            break
        if restart is None:
            pos = first  # the records asked for are read (or the lines ran out)
            break
        pos = restart
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    df = pd.DataFrame({f"c{i}": pd.array(list(c), dtype=STR) for i, c in enumerate(cols)})
    if not rows:
        df = pd.DataFrame({f"c{i}": pd.Series([], dtype=STR) for i in range(n_fields)})
    spans = np.asarray(good, dtype=np.int64).reshape(-1, 2)
    return (df, spans[:, 0], spans[:, 1], bad), max(pos, start)


def _swallowed(inner: Sequence[str], sep: str, n_fields: int) -> bool:
    """Whether the lines inside a multi-line record look like records of their own (the header's
    field count, quotes that open and close on the line), at least half of them: two stray quotes
    lines apart pair up into one record of the right width, which a line break inside a quoted note
    seldom produces. Erring this way sets a record aside with its reason instead of hiding others in it."""
    if not inner:
        return False

    def whole(ln: str) -> bool:
        if ln.count(QUOTE) & 1:
            return False
        fields = next(csv.reader([ln + "\n"], delimiter=sep), [])
        return len(fields) == n_fields and not fields[-1].endswith("\n")

    n = sum(1 for ln in inner if whole(ln))
    return n > 0 and 2 * n >= len(inner)


def _unaccounted(body: np.ndarray, first: np.ndarray, last: np.ndarray, bad: list[BadLine]) -> list[BadLine]:
    """Non-blank lines in no returned record and not set aside: the independent count says they hold
    records the parser lost (``unparsed_records``, one entry per range of consecutive lines)."""
    body = np.asarray(body, dtype=np.int64)
    if len(first) + len(bad) == len(body) and (first == last).all():
        return []  # one record per non-blank line (the fast reader's case): nothing can be left over
    n = int(body[-1]) + 2 if len(body) else 1
    # lines covered by a record's span: +1 where a span starts, -1 after it ends, summed along the file
    edge = np.zeros(n + 1, dtype=np.int64)
    np.add.at(edge, np.clip(first, 0, n), 1)
    np.add.at(edge, np.clip(last + 1, 0, n), -1)
    covered = np.cumsum(edge)[:n] > 0
    set_aside = np.array([b.line - 1 for b in bad if 0 <= b.line - 1 < n], dtype=np.int64)
    covered[set_aside] = True
    lost = body[~covered[body]]
    if not len(lost):
        return []
    starts = np.flatnonzero(np.diff(lost, prepend=-2) != 1)  # a new range where the line is not the next one
    ends = np.append(starts[1:], len(lost)) - 1
    return [
        BadLine(int(lost[a]) + 1, 0, 0, "unparsed_records", end=int(lost[b]) + 1, count=int(b - a + 1))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
