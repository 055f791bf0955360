"""Forms of the identifiers that are no names (phones, ID cards, addresses, birth dates, codes).

One value at a time for :meth:`~curation.deid.registry.IdentifierRegistry.add`, and many at once in
Arrow for :meth:`~curation.deid.registry.IdentifierRegistry.add_many` (a cohort notes hundreds of
thousands of admission numbers, phones and ID cards): the batch functions give exactly the forms of the
per-value ones. pyarrow's regular expressions are RE2's, which read ``\\s``, ``\\d`` and ``\\w`` as ASCII
only, so every pattern here spells out its characters (Python's whitespace in full), and a value that a
pattern cannot read exactly as Python does (a phone with digits of another script, a date RE2 does not
parse) goes through the per-value function. tests/deid/test_registry_batch.py pins add_many == add.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# the characters str.isspace accepts, which str.strip() and re's \s remove (checked over all of Unicode)
SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
SPACES += "\u2028\u2029\u202f\u205f\u3000"
_SPACE_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in SPACES)  # the same, inside an RE2 character class

_ALNUM = re.compile(r"[^\W_]")  # exactly the characters str.isalnum accepts (checked over all of Unicode)
_NON_DIGIT = re.compile(r"\D")
_SPACE_DASH = re.compile(r"[\s\-]")
_SPACES = re.compile(r"\s+")


def text(value: object) -> str:
    """A raw value as stripped text; missing values are ``""``, whole floats are integers (Excel's 12345.0)."""
    if type(value) is str:  # the common case, without the missing-value tests below
        return value.strip()
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel hands IDs over as 12345.0
    return str(value).strip()


def has_content(value: str) -> bool:
    """Whether ``value`` holds a letter or a digit: "^^^^" or "--" identifies nobody."""
    return _ALNUM.search(value) is not None


def id_card_forms(raw: str) -> set[str]:
    """An ID card number upper- and lowercase and without its spaces and dashes."""
    return {raw.upper(), raw.lower(), _SPACE_DASH.sub("", raw)}


def address_forms(raw: str) -> set[str]:
    """An address without its spaces."""
    return {_SPACES.sub("", raw)}


def phone_forms(raws: list[str]) -> list[str]:
    """The digit forms of phone numbers: the digits alone (a leading 86 country code dropped from 13
    digits), and an 11-digit number also as ``138-1234-5678`` and ``138 1234 5678``."""
    out: list[str] = []
    strip = _NON_DIGIT.sub
    for raw in raws:
        digits = strip("", raw)
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
        if not digits:
            continue  # a phone without digits has no digit form (its text form is kept)
        out.append(digits)
        if len(digits) == 11:
            a, b, c = digits[:3], digits[3:7], digits[7:]
            out += (f"{a}-{b}-{c}", f"{a} {b} {c}")
    return out


def date_forms(value: object, raw: str) -> list[str]:
    """The common renderings of a date (none when ``raw`` does not parse as one)."""
    d = parse_date(value, raw)
    if d is None:
        return []
    y, m, dd = d.year, d.month, d.day
    return [
        f"{y:04d}-{m:02d}-{dd:02d}",
        f"{y:04d}{m:02d}{dd:02d}",
        f"{y:04d}/{m}/{dd}",
        f"{y:04d}/{m:02d}/{dd:02d}",
        f"{y:04d}年{m}月{dd}日",
        f"{y:04d}年{m:02d}月{dd:02d}日",
        f"{y:04d}.{m:02d}.{dd:02d}",
        f"{y:04d}.{m}.{dd}",
        f"{y:04d}-{m}-{dd}",
        f"{dd:02d}/{m:02d}/{y:04d}",
        f"{m:02d}/{dd:02d}/{y:04d}",
    ]


_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def parse_date(value: object, raw: str) -> dt.date | None:
    """The date a value holds: a date object, ``YYYY-M-D`` (``/``, ``.``, 年月日), ``YYYYMMDD``, ``D/M/YYYY``
    (``M/D/YYYY`` where the middle part cannot be a month), or what pandas parses; None otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        m = _DATE_RE.fullmatch(raw) or re.fullmatch(r"(\d{4})(\d{2})(\d{2})", raw)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", raw)
        if m:  # DD/MM/YYYY unless the first part cannot be a day-of-month pair of this shape
            a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
            return dt.date(y, b, a) if b <= 12 else dt.date(y, a, b)
        import pandas as pd

        ts = pd.Timestamp(raw)
        return None if pd.isna(ts) else ts.date()
    except (ValueError, TypeError, OverflowError, NotImplementedError):
        # NotImplementedError: pandas reads "0000-01" as year 0, which has no datetime.date
        return None


# --- many values at once (Arrow) ------------------------------------------------------------------


def clean(values: pa.Array) -> pa.Array:
    """:func:`text` over Arrow strings: stripped as str.strip() strips, without the missing, blank and
    contentless values (those ``add`` ignores)."""
    s = pc.utf8_trim(values, characters=SPACES)
    keep = pc.match_substring_regex(s, "[0-9A-Za-z]").fill_null(False).to_numpy(zero_copy_only=False).copy()
    # text of other scripts without an ASCII letter or digit: tested as add() tests it (RE2 has no isalnum)
    other = pc.invert(pc.string_is_ascii(s)).fill_null(False).to_numpy(zero_copy_only=False)
    unsure = np.flatnonzero(other & ~keep)
    if len(unsure):
        keep[unsure] = [has_content(v) for v in s.take(pa.array(unsure)).to_pylist()]
    return s.filter(pa.array(keep))


def forms_of(kind: str, raws: pa.Array) -> tuple[list[pa.Array], list[str]]:
    """The forms beside the raw values of a kind (``raws`` cleaned by :func:`clean`): Arrow arrays, and a
    list of the forms of the values read one by one. A form equal to its own raw value is left out (the
    caller stores the raw values): most IDs and phones are written in one of their forms already."""
    if kind == "phone":
        return _phone_forms_of(raws)
    if kind == "id_card":
        return _id_card_forms_of(raws)
    if kind == "address":  # only spaces go: the content stays
        return [_changed(pc.replace_substring_regex(raws, f"[{_SPACE_CLASS}]+", ""), raws)], []
    if kind == "birth_date":
        return _date_forms_of(raws)
    return [], []


def _changed(forms: pa.Array, raws: pa.Array) -> pa.Array:
    """The forms that differ from the raw value they were built from (aligned arrays)."""
    return forms.filter(pc.not_equal(forms, raws))


def _split_ascii(raws: pa.Array) -> tuple[pa.Array, list[str]]:
    ascii_ = pc.string_is_ascii(raws)
    return raws.filter(ascii_), raws.filter(pc.invert(ascii_)).to_pylist()


def _phone_forms_of(raws: pa.Array) -> tuple[list[pa.Array], list[str]]:
    # digits of other scripts (٣) are digits to Python's \D: those phones are read one by one
    asc, other = _split_ascii(raws)
    digits = pc.replace_substring_regex(asc, "[^0-9]", "")
    n = pc.binary_length(digits)
    country = pc.and_(pc.equal(n, 13), pc.starts_with(digits, "86"))
    digits = pc.if_else(country, pc.utf8_slice_codeunits(digits, 2), digits)
    n = pc.binary_length(digits)
    has = pc.greater(n, 0)  # a phone without digits has no digit form (its text form is kept)
    eleven = pc.equal(n, 11)
    asc11, d11 = asc.filter(eleven), digits.filter(eleven)
    a, b, c = (pc.utf8_slice_codeunits(d11, i, j) for i, j in ((0, 3), (3, 7), (7, 11)))
    forms = [_changed(digits.filter(has), asc.filter(has)), _changed(_join(a, b, c, "-"), asc11)]
    return [*forms, _changed(_join(a, b, c, " "), asc11)], phone_forms(other)


def _id_card_forms_of(raws: pa.Array) -> tuple[list[pa.Array], list[str]]:
    # case of ASCII text keeps its letters and digits; other text's case forms are tested one by one (ß, İ)
    asc, other = _split_ascii(raws)
    rest = [f for r in other for f in (r.upper(), r.lower()) if has_content(f)]
    squeezed = pc.replace_substring_regex(raws, f"[{_SPACE_CLASS}\\-]", "")  # the content stays
    forms = [_changed(pc.ascii_upper(asc), asc), _changed(pc.ascii_lower(asc), asc), _changed(squeezed, raws)]
    return forms, rest


# parse_date's shapes as RE2 reads them, ASCII digits and no spaces; a text matching one matches no
# earlier shape of parse_date, and parse_date reads it the same way (the other texts go through it)
_DATE_SHAPES = (
    (r"^(?P<a>[0-9]{4})[-/.年](?P<b>[0-9]{1,2})[-/.月](?P<c>[0-9]{1,2})日?$", "ymd"),
    (r"^(?P<a>[0-9]{4})(?P<b>[0-9]{2})(?P<c>[0-9]{2})$", "ymd"),
    (r"^(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})/(?P<c>[0-9]{4})$", "dmy"),
)
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _date_forms_of(raws: pa.Array) -> tuple[list[pa.Array], list[str]]:
    keys: list[np.ndarray] = []
    rest = raws
    for pattern, order in _DATE_SHAPES:
        parts = pc.extract_regex(rest, pattern)
        hit = parts.is_valid()
        got = parts.filter(hit)
        a, b, c = (pc.cast(pc.struct_field(got, k), pa.int64()).to_numpy() for k in "abc")
        if order == "ymd":
            y, m, d = a, b, c
        else:  # D/M/YYYY unless the middle part cannot be a month
            y, m, d = c, np.where(b <= 12, b, a), np.where(b <= 12, a, b)
        keys.append((y * 10000 + m * 100 + d)[_valid(y, m, d)])
        rest = rest.filter(pc.invert(hit))
    return _renderings(np.unique(np.concatenate(keys))), [f for r in rest.to_pylist() for f in date_forms(r, r)]


def _valid(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Which (year, month, day) are dates (what ``datetime.date`` accepts)."""
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    days = _MONTH_DAYS[np.clip(m, 1, 12) - 1] + ((m == 2) & leap)
    return (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= days)


def _renderings(keys: np.ndarray) -> list[pa.Array]:
    """:func:`date_forms` of each date ``YYYYMMDD`` (as an integer), one array per rendering."""

    def digits(v: np.ndarray, width: int) -> tuple[pa.Array, pa.Array]:
        plain = pc.cast(pa.array(v), pa.string())
        return plain, pc.utf8_lpad(plain, width, "0")

    _, y = digits(keys // 10000, 4)
    m1, m2 = digits(keys // 100 % 100, 2)
    d1, d2 = digits(keys % 100, 2)
    join = _join
    return [
        join(y, m2, d2, "-"),
        join(y, m2, d2, ""),
        join(y, m1, d1, "/"),
        join(y, m2, d2, "/"),
        join(y, "年", m1, "月", d1, "日", ""),
        join(y, "年", m2, "月", d2, "日", ""),
        join(y, m2, d2, "."),
        join(y, m1, d1, "."),
        join(y, m1, d1, "-"),
        join(d2, m2, y, "/"),
        join(m2, d2, y, "/"),
    ]


def _join(*parts: pa.Array | str) -> pa.Array:
    """``binary_join_element_wise`` with its literal texts (the last one the separator) typed as the arrays
    are (``string`` or ``large_string``, which Arrow does not mix)."""
    kind = next(p.type for p in parts if isinstance(p, pa.Array))
    return pc.binary_join_element_wise(*(pa.scalar(p, kind) if isinstance(p, str) else p for p in parts))
