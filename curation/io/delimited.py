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
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

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
    detect_encoding,
)
from .values import has_control

__all__ = ["physical_lines", "read_delimited"]

QUOTE = '"'


def physical_lines(text: str) -> list[str]:
    """Split on the line breaks CSV parsers know (``\\r\\n``, ``\\n``, ``\\r``) and nothing else."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


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
    if not data.strip():
        return _empty(encoding or "", "0-byte file" if not data else "blank file", has_header=False)
    try:
        text, enc, undecodable = _decode(path, data, encoding)
    except SourceReadError:
        raise
    except SourceError as exc:
        raise SourceReadError(str(exc)) from None
    lines = physical_lines(text)
    # lines above the header (export titles such as 导出时间：...) are not data
    header_idx = next((i for i in range(max(0, header_row - 1), len(lines)) if lines[i].strip()), None)
    if header_idx is None:
        return _empty(enc, "blank file" if header_row <= 1 else "nothing at or below `header_row`", has_header=False)
    header = next(csv.reader([lines[header_idx]], delimiter=sep))
    names, copies = _dedupe(header)
    body = [i for i in range(header_idx + 1, len(lines)) if lines[i].strip()]
    # the modality cleans values only when the file holds a control character
    may_hold_control = has_control(data) if enc.startswith("utf-8") else has_control(text)
    bad_undecodable = [BadLine(n, len(names), 0, "undecodable_line") for n in undecodable if n - 1 > header_idx]
    if not body:
        rt = _empty(enc, "header only", has_header=True, names=names)
        rt.bad_lines = bad_undecodable
        rt.n_records = len(bad_undecodable)
        if bad_undecodable:
            rt.empty = ""
        return rt
    blob = _body_bytes(data, enc, lines, body) if not undecodable else None
    frame, first, last, bad = _parse(lines, body, names, sep, quoted=QUOTE in text, blob=blob)
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


def _body_bytes(data: bytes, enc: str, lines: list[str], body: list[int]) -> bytes | None:
    """The file's own bytes for the body lines ``body[0]`` to ``body[-1]`` when they are exactly what
    joining those lines with ``\\n`` and encoding as UTF-8 gives (a UTF-8 or ASCII file with ``\\n``
    breaks only and no blank line inside the body): a slice, not a join and an encode of every line."""
    if b"\r" in data or codecs.lookup(enc).name not in ("utf-8", "utf-8-sig", "ascii"):
        return None
    if body[-1] - body[0] + 1 != len(body):
        return None
    start = -1
    for _ in range(body[0]):  # the lines above the body: the header and any title lines
        start = data.find(b"\n", start + 1)
    end = len(data)
    for _ in range(len(lines) - 1 - body[-1]):  # blank lines after the body
        end = data.rfind(b"\n", 0, end)
    return data[start + 1 : end]


def _empty(enc: str, why: str, *, has_header: bool, names: list[str] | None = None) -> RawTable:
    cols = {n: pd.Series([], dtype=STR) for n in names or []}
    cols[LINE] = pd.Series([], dtype="int64")
    return RawTable(pd.DataFrame(cols), enc, n_records=0, empty=why, has_header=has_header, may_hold_control=False)


# the records as text columns, the first and last 0-based line of each, and the lines set aside
Parsed = tuple[pd.DataFrame, np.ndarray, np.ndarray, list[BadLine]]
FAST_MIN = 64  # fewer lines than this between odd-quote lines: one careful pass costs less than a pyarrow call


def _parse(
    lines: list[str], body: list[int], names: list[str], sep: str, *, quoted: bool, blob: bytes | None = None
) -> Parsed:
    """pyarrow over the runs of lines between odd-quote lines, the careful reader for the rest;
    ``blob`` is the body's bytes when the file holds them as they are (see ``_body_bytes``)."""
    odd = [i for i in body if lines[i].count(QUOTE) & 1] if quoted else []
    if not odd:
        parsed = _fast(lines, body, names, sep, blob=blob)
        # pyarrow's count disagrees with ours (a quote opened mid-line by an even count): read it all carefully
        return parsed if parsed is not None else _careful(lines, body[0], len(lines), names, sep)[0]
    pieces: list[Parsed] = []
    n = len(lines)
    pos, k, b = body[0], 0, 0
    while pos < n:
        while k < len(odd) and odd[k] < pos:
            k += 1
        stop = odd[k] if k < len(odd) else n
        if stop > pos:  # a run of lines that all close their quotes
            while b < len(body) and body[b] < pos:
                b += 1
            run = []
            while b < len(body) and body[b] < stop:
                run.append(body[b])
                b += 1
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


def _fast(lines: list[str], body: list[int], names: list[str], sep: str, *, blob: bytes | None = None) -> Parsed | None:
    """pyarrow over the non-blank body lines, one record per line (``blob``: those lines' bytes, when
    the caller has them); None when its rows and rejected rows do not add up to the lines given
    (then the careful reader takes over)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rejected: list[tuple[int, int, int]] = []

    def on_bad(row: pacsv.InvalidRow) -> str:
        rejected.append((-1 if row.number is None else int(row.number), row.expected_columns, row.actual_columns))
        return "skip"

    if not body:
        return _careful(lines, 0, 0, names, sep)[0]
    cols = [f"c{i}" for i in range(len(names))]
    contiguous = body[-1] - body[0] + 1 == len(body)  # no blank line in the body: join a slice, not a generator
    if blob is None:
        blob = "\n".join(lines[body[0] : body[-1] + 1] if contiguous else (lines[i] for i in body)).encode("utf-8")
    table = pacsv.read_csv(
        io.BytesIO(blob),
        read_options=pacsv.ReadOptions(column_names=cols, use_threads=False, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=on_bad),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(cols, pa.string()),
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if table.num_rows + len(rejected) != len(body) or any(n < 1 or n > len(body) for n, _, _ in rejected):
        return None
    # pyarrow numbers the rows of what it was given: position k is physical line body[k - 1] + 1
    good = np.delete(np.asarray(body, dtype=np.int64), [n - 1 for n, _, _ in rejected])
    bad = [BadLine(body[n - 1] + 1, exp, act) for n, exp, act in rejected]
    df = table.to_pandas(types_mapper=lambda t: STR if t == pa.string() else None)
    return df, good, good, bad


def _careful(
    lines: list[str], start: int, end: int, names: list[str], sep: str, *, records: int | None = None
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


def _swallowed(inner: list[str], sep: str, n_fields: int) -> bool:
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


def _unaccounted(body: list[int], first: np.ndarray, last: np.ndarray, bad: list[BadLine]) -> list[BadLine]:
    """Non-blank lines in no returned record and not set aside: the independent count says they hold
    records the parser lost (``unparsed_records``, one entry per contiguous range of lines)."""
    if len(first) + len(bad) == len(body) and (first == last).all():
        return []  # one record per non-blank line (the fast reader's case): nothing can be left over
    covered = {b.line - 1 for b in bad}
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        covered.update(range(a, b + 1))
    out: list[BadLine] = []
    for i in body:
        if i in covered:
            continue
        if out and out[-1].end == i:  # the line after the previous range (end is 1-based)
            prev = out[-1]
            out[-1] = BadLine(prev.line, 0, 0, "unparsed_records", end=i + 1, count=prev.count + 1)
        else:
            out.append(BadLine(i + 1, 0, 0, "unparsed_records", end=i + 1, count=1))
    return out
