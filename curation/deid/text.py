"""Free-text scrubbing: the cohort's identifier registry, pattern detectors and a person-name detector.

:class:`Scrubber` is built once per run (its automata and patterns compile once) and scrubs any
number of texts. It removes

(a) every form of every identifier of the cohort (:class:`~curation.deid.registry.IdentifierRegistry`:
    other patients, relatives and doctors too, not only the row's own patient), in one
    Aho-Corasick pass: case-insensitive, Latin forms only at word boundaries, Chinese anywhere;
(b) what detectors recognise: labelled values (姓名：, 住院号：, 电话：, 住址： ...), mobile and
    landline phones (separators, +86, full-width digits), resident ID numbers (18 digits with
    their GB 11643 check digit, or the 15-digit legacy form), the site's MRN shapes from
    cohort.yaml, dates, e-mail addresses, Chinese postal addresses, long ID-like numbers;
(c) person names no registry knows (:mod:`curation.deid.names`), Chinese and pinyin.

Each is replaced by a token that keeps the text readable: ``[姓名]`` ``[电话]`` ``[证件号]``
``[日期]`` ``[地址]`` ``[邮箱]`` ``[编号]``. Full-width forms are folded one character for one, so
positions found on the folded text cut the original, and the rest of the text stays as written.

Speed: no detector but the address one reads across a 。 (nor do the MRN shapes and identifiers proven
not to; the others are matched over whole texts), so texts are scrubbed sentence by sentence, each
distinct sentence once (a cache: clinical notes repeat their sentences), many sentences together in
one pass of each automaton and pattern (:meth:`Scrubber.scrub_many`, :meth:`Scrubber.scrub_series`;
:meth:`Scrubber.scrub` is a batch of one), optionally in forked workers. The result is the same as
scrubbing each text whole (tests/deid/test_text.py holds them equal on random text).

The module functions :func:`scrub` and :func:`scrub_series` are the earlier interface (detectors
plus the row's own known identifiers); they use a registry-less scrubber.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import accumulate, chain, pairwise
from operator import itemgetter
from typing import Any

import pandas as pd

from ..errors import ConfigError
from .registry import IdentifierRegistry, Kind

REDACTED = "[REDACTED]"  # the earlier single token; kept for callers that import it

TOKENS: dict[Kind, str] = {
    Kind.name: "[姓名]", Kind.staff_name: "[姓名]", Kind.phone: "[电话]", Kind.id_card: "[证件号]",
    Kind.birth_date: "[日期]", Kind.date: "[日期]", Kind.address: "[地址]", Kind.email: "[邮箱]",
}
DEFAULT_TOKEN = "[编号]"  # MRN, admission, accession, specimen, sample, other IDs, file names


def token(kind: Kind) -> str:
    """The replacement token of a kind."""
    return TOKENS.get(kind, DEFAULT_TOKEN)


# Full-width ASCII forms (１３８…, ：, （）) are common in Chinese free text. Folding them one
# character for one keeps positions, so matches found on the folded text are cut from the original
# and the rest of the text (its punctuation included) is left exactly as written.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]")


_FOLD_CHARS = {chr(k): chr(v) for k, v in _FOLD.items()}


def _fold_one(m: re.Match[str]) -> str:
    return _FOLD_CHARS[m.group()]


def _norm(text: str) -> str:
    # a substitution over the few full-width characters is twice as fast as str.translate on CJK text
    return _FULL_WIDTH.sub(_fold_one, text)


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    # a few characters (İ) lengthen when lowered; keep those as they are so positions hold
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


# Letters and digits that make a word (ASCII, Latin-1 and Latin Extended-A/B): [0-9A-Za-z\u00c0-\u024f]
_WORD_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        + "".join(map(chr, range(0xC0, 0x250))))


def _word(ch: str) -> bool:
    return ch in _WORD_CHARS


def _bounded(text: str, a: int, b: int) -> bool:
    """No letter or digit touches the span (nor a decimal point after a digit before a number)."""
    if a > 0 and _word(text[a - 1]) and _word(text[a]):
        return False
    if b < len(text) and _word(text[b]) and _word(text[b - 1]):
        return False
    # 0.11111111 is a number, not the identifier 11111111
    return not (text[a].isdigit() and a > 1 and text[a - 1] == "." and text[a - 2].isdigit())


@dataclass(frozen=True, slots=True)
class Finding:
    """One identifier found in a text: ``text[start:end]`` is of ``kind``."""

    start: int
    end: int
    kind: Kind

    @property
    def token(self) -> str:
        """The replacement token."""
        return token(self.kind)


# --- detectors ----------------------------------------------------------------------------

_LABEL_KIND = {
    "住院号": Kind.admission_number, "住院ID": Kind.admission_number, "住院登记号": Kind.admission_number,
    "病案号": Kind.mrn, "病历号": Kind.mrn, "门诊号": Kind.mrn, "登记号": Kind.mrn, "就诊号": Kind.mrn,
    "就诊卡号": Kind.mrn, "ID号": Kind.mrn, "MRN": Kind.mrn, "PID": Kind.mrn, "患者ID": Kind.mrn,
    "检查号": Kind.accession, "影像号": Kind.accession, "放射号": Kind.accession, "申请单号": Kind.accession,
    "标本号": Kind.specimen_id, "病理号": Kind.specimen_id, "样本号": Kind.sample_id, "条码号": Kind.sample_id,
    "医保号": Kind.other, "医保卡号": Kind.other, "卡号": Kind.other,
    "身份证号码": Kind.id_card, "身份证号": Kind.id_card, "身份证": Kind.id_card, "证件号码": Kind.id_card,
    "证件号": Kind.id_card,
}
_ID_LABELS = "|".join(sorted(_LABEL_KIND, key=len, reverse=True))
_PHONE_LABELS = ("联系电话", "电话号码", "电话", "手机号码", "手机号", "手机", "联系方式", "Tel", "TEL", "Phone",
                 "PHONE")
_NAME_LABELS = ("患者姓名", "病人姓名", "姓名", "联系人", "Name", "NAME")
_ADDRESS_LABELS = ("家庭住址", "家庭地址", "现住址", "居住地址", "住址", "地址", "家住", "现住", "户籍地址",
                   "户籍地", "户籍", "籍贯", "Address", "ADDRESS")
_LABELLED: list[tuple[re.Pattern[str], Kind | None]] = [
    (re.compile(rf"(?P<label>{_ID_LABELS})\s*[:：]?\s*(?P<v>[A-Za-z0-9][A-Za-z0-9\-/]{{2,}})"), None),
    (re.compile(rf"(?:{'|'.join(_PHONE_LABELS)})\s*[:：]?\s*(?P<v>\+?[\d\-\s()]{{7,}}\d)"), Kind.phone),
    (re.compile(rf"(?:{'|'.join(_NAME_LABELS)})\s*[:：]\s*"
                r"(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff·]{1,4}|[A-Za-z]+(?:[ ^][A-Za-z]+){0,2})"), Kind.name),
    (re.compile(rf"(?:{'|'.join(_ADDRESS_LABELS)})\s*[:：]?\s*(?P<v>[^，。；;,\n]{{2,60}})"), Kind.address),
]

# Patterns start with a literal or a character class so the regex engine can skip ahead fast;
# boundaries are checked on each match instead of by look-behinds.
_ID18 = re.compile(r"\d{6}[-\s]?(?:19|20)\d{6}[-\s]?\d{3}[\dXx]")
_ID15 = re.compile(r"\d{15}")
_MOBILE = re.compile(r"1[3-9]\d[-\s\u2010-\u2015]?\d{4}[-\s\u2010-\u2015]?\d{4}")
_PHONE_PREFIX = re.compile(r"(?:\+|00)?86[-\s]?$")
_LANDLINE = re.compile(r"0\d{2,3}[-\s]?\d{3,4}[-\s]?\d{4}(?:(?:转|-|ext\.?\s?)\d{1,5})?")
_LANDLINE_PAREN = re.compile(r"[(（]0\d{2,3}[)）]\s?\d{3,4}[-\s]?\d{4}(?:(?:转|-|ext\.?\s?)\d{1,5})?")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Chinese dates are found from their 月 (a literal the regex engine skips to), then extended each way.
_DATE_CN_BEFORE = re.compile(r"(?:(?:19|20)\d{2}\s*年\s*)?\d{1,2}\s*$")
_DATE_CN_AFTER = re.compile(r"\s*\d{1,2}\s*[日号]")
# Every branch starts with the same digit class, so the engine skips ahead to digits; a look-behind
# after the first digit keeps years to 19xx / 20xx.
_DATE_NUM = re.compile(
    r"\d(?:(?<=[12])\d{3}(?P<s>[-/.])\d{1,2}(?P=s)\d{1,2}"  # 2023-03-05, 2023/3/5, 2023.03.05
    r"|\d?(?P<t>[-/.])\d{1,2}(?P=t)(?:19|20)\d{2}"  # 05/03/2023, 3-5-2023
    r"|(?<=[12])\d{3}[-/](?:0?[1-9]|1[0-2])(?![\d/\-])"  # 2023-03, 2023/3
    r"|(?<=[12])\d{3}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"  # 20230305
)
_LONG_ID = re.compile(r"\d{6,}")
_DIGIT = re.compile(r"\d")
_ID_PREFIX = re.compile(r"[A-Za-z]{1,4}$")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

# Chinese postal addresses: a chain of place segments in descending order, at least two of them
# and one below the city (so a hospital's "上海市" or "4R区" alone is not an address).
_ADDR_UNITS = [
    ("省|自治区|特别行政区", 0), ("市|自治州|地区|盟", 1), ("区|县|旗", 2), ("镇|乡|街道|开发区|新区", 3),
    ("村|社区|小区|路|大道|街|巷|胡同|弄|里", 4), ("号院|号楼|号|弄", 5), ("栋|幢|座|单元|楼|层", 6), ("室|户", 7),
]
_ADDR_UNIT_RE = "|".join(sorted((u for us, _ in _ADDR_UNITS for u in us.split("|")), key=len, reverse=True))
_ADDR_LEVEL = {u: lvl for us, lvl in _ADDR_UNITS for u in us.split("|")}
_ADDR_SEG = re.compile(rf"[\u4e00-\u9fff0-9A-Za-z\-#]{{1,10}}?(?:{_ADDR_UNIT_RE})")
# Characters of the place levels an address needs (province to street); the segment pattern runs only
# on windows around two of them close together, not over the whole text.
_ADDR_HINT = re.compile("[省市州盟区县旗镇乡村路街巷弄]")
_ADDR_NOT_START = ("患者", "病人", "家住", "现住", "住在", "住址", "地址", "居住", "来自", "位于", "户籍", "在", "于",
                   "住", "自", "至", "到", "往", "回", "去", "由", "从")


def _gb11643_ok(digits: str) -> bool:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(digits[:17], weights, strict=True))
    return "10X98765432"[total % 11] == digits[17].upper()


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        dt.date(y, m, d)
    except ValueError:
        return False
    return True


def valid_id_card(value: str) -> bool:
    """A resident ID number: 18 characters with a valid birth date and GB 11643 check digit, or the
    15-digit legacy form with a valid birth date."""
    v = re.sub(r"[\s\-]", "", value)
    if re.fullmatch(r"\d{17}[\dXx]", v):
        return _valid_date(int(v[6:10]), int(v[10:12]), int(v[12:14])) and _gb11643_ok(v)
    if re.fullmatch(r"\d{15}", v):
        return _valid_date(1900 + int(v[6:8]), int(v[8:10]), int(v[10:12]))
    return False


def _digits_bounded(text: str, a: int, b: int) -> bool:
    return not ((a > 0 and text[a - 1].isdigit()) or (b < len(text) and text[b].isdigit()))


def _segment_windows(starts: Sequence[int], end: int, positions: Iterable[int]) -> list[tuple[int, int]]:
    """``(start, end)`` of each segment (``starts``, separated by one character) holding one of ``positions``."""
    seen: dict[int, None] = {}
    for p in positions:
        seen.setdefault(bisect_right(starts, p) - 1)
    return [(starts[i], starts[i + 1] - 1 if i + 1 < len(starts) else end) for i in seen]


def _detect(text: str, out: list[tuple[int, int, Kind]], starts: Sequence[int] = (0,)) -> None:
    """Pattern detectors over folded text, appending ``(start, end, kind)``; addresses not included
    (:func:`_addresses` reads across sentences).

    ``text`` may be many sentences joined by 。 (``starts`` says where each begins): no detector here
    matches across 。 or reads past it, so the spans are those of each sentence on its own.
    """
    add = out.append
    for pat, kind in _LABELLED:
        for m in pat.finditer(text):
            k = kind or _LABEL_KIND[m.group("label")]
            add((m.start("v"), m.end("v"), k))
    if _DIGIT.search(text):
        long_ids = [m.span() for m in _LONG_ID.finditer(text)]
        if long_ids:
            # an 18-character ID number holds 14 digits in a row, or six before a separator and 19 or 20; a
            # 15-digit one 15 in a row: only the sentences with such a run are searched
            n = len(text)
            w18 = _segment_windows(starts, n, (a for a, b in long_ids if b - a >= 14 or (
                b + 1 < n and (text[b] == "-" or text[b].isspace()) and text[b + 1] in "12")))
            w15 = _segment_windows(starts, n, (a for a, b in long_ids if b - a >= 15))
            for pat, windows in ((_ID18, w18), (_ID15, w15)):
                for lo, hi in windows:
                    for m in pat.finditer(text, lo, hi):
                        a, b = m.span()
                        if _bounded(text, a, b) and valid_id_card(m.group()):
                            add((a, b, Kind.id_card))
        for m in _MOBILE.finditer(text):
            a, b = m.span()
            if _digits_bounded(text, a, b):
                p = _PHONE_PREFIX.search(text, max(0, a - 6), a)
                add((p.start() if p else a, b, Kind.phone))
        # a landline in brackets starts with "(0": most texts have none, and looking costs less than the pattern
        for pat in (_LANDLINE, _LANDLINE_PAREN) if "(0" in text or "（0" in text else (_LANDLINE,):
            for m in pat.finditer(text):
                a, b = m.span()
                if _digits_bounded(text, a, b) and not (a > 0 and text[a - 1] == "."):
                    add((a, b, Kind.phone))
        for m in _DATE_NUM.finditer(text):
            a, b = m.span()
            if _digits_bounded(text, a, b) and _date_ok(m.group()) and not (a > 0 and text[a - 1] == "."):
                add((a, b, Kind.date))
        pos = text.find("月")
        while pos >= 0:
            before = _DATE_CN_BEFORE.search(text, max(0, pos - 12), pos)
            after = _DATE_CN_AFTER.match(text, pos + 1)
            # a year before or a day after makes 月 a date (2023年3月, 3月5日); 术后3月 is a duration
            if before and (after or "年" in before.group()):
                a, b = before.start(), after.end() if after else pos + 1
                if _digits_bounded(text, a, b):
                    add((a, b, Kind.date))
            pos = text.find("月", pos + 1)
        for a, b in long_ids:
            if a and text[a - 1] in _ASCII_LETTERS:  # a letter prefix (ZY, CT) belongs to the ID
                p = _ID_PREFIX.search(text, max(0, a - 4), a)
                a = p.start() if p else a
            if _bounded(text, a, b):
                add((a, b, Kind.other))
    if "@" in text:
        at = []
        pos = text.find("@")
        while pos >= 0:
            at.append(pos)
            pos = text.find("@", pos + 1)
        for lo, hi in _segment_windows(starts, len(text), at):
            for m in _EMAIL.finditer(text, lo, hi):
                add((m.start(), m.end(), Kind.email))


@lru_cache(maxsize=16384)
def _date_ok(s: str) -> bool:
    nums = [int(x) for x in re.findall(r"\d+", s)]
    if len(nums) == 1:  # 20230305
        v = str(nums[0])
        return 1900 <= int(v[:4]) < 2100 and _valid_date(int(v[:4]), int(v[4:6]), int(v[6:8]))
    if nums[0] >= 1000 and not 1900 <= nums[0] < 2100:
        return False
    if len(nums) == 2:  # 2023-03
        return 1 <= nums[1] <= 12
    a, b, c = nums
    if a >= 1000:
        return _valid_date(a, b, c)
    return _valid_date(c, b, a) or _valid_date(c, a, b)


def _addresses(text: str, out: list[tuple[int, int, Kind]]) -> None:
    hints = [m.start() for m in _ADDR_HINT.finditer(text)]
    i = 0
    while i < len(hints):
        j = i
        while j + 1 < len(hints) and hints[j + 1] - hints[j] <= 16:
            j += 1
        if j > i:
            lo, hi = max(0, hints[i] - 12), min(len(text), hints[j] + 40)
            _addresses_in(text, lo, hi, out)
        i = j + 1


def _addresses_in(text: str, lo: int, hi: int, out: list[tuple[int, int, Kind]]) -> None:
    segs = [(m.start(), m.end(), _unit_level(m.group())) for m in _ADDR_SEG.finditer(text, lo, hi)]
    i = 0
    while i < len(segs):
        j = i
        while j + 1 < len(segs) and segs[j + 1][0] == segs[j][1] and segs[j + 1][2] > segs[j][2]:
            j += 1
        levels = [s[2] for s in segs[i:j + 1]]
        if j > i and any(lvl in (0, 1, 3, 4) for lvl in levels) and any(lvl >= 2 for lvl in levels):
            a, b = segs[i][0], segs[j][1]
            stripped = True
            while stripped:  # the words or label before an address are not part of it (患者家住)
                stripped = False
                for w in _ADDR_NOT_START:
                    if text.startswith(w, a) and b - a > len(w) + 2:
                        a += len(w)
                        stripped = True
                        break
            out.append((a, b, Kind.address))
        i = j + 1


def _unit_level(seg: str) -> int:
    for n in (3, 2, 1):
        lvl = _ADDR_LEVEL.get(seg[-n:])
        if lvl is not None:
            return lvl
    return -1


def compile_mrn_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """Compile the site MRN shapes of cohort.yaml; a pattern that does not compile is a ConfigError.

    Raises
    ------
    ConfigError
        Naming the pattern (the caller adds the cohort.yaml key).
    """
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p))
        except re.error as exc:
            msg = f"MRN pattern {p!r} is not a valid regular expression ({exc}); fix it or remove it"
            raise ConfigError(msg) from None
    return out


_NO_STOP_CATEGORIES = {"CATEGORY_DIGIT", "CATEGORY_SPACE", "CATEGORY_WORD", "CATEGORY_LINEBREAK", "CATEGORY_UNI_DIGIT",
                       "CATEGORY_UNI_SPACE", "CATEGORY_UNI_WORD", "CATEGORY_UNI_LINEBREAK", "CATEGORY_LOC_WORD"}
_STOP_CATEGORIES = {"CATEGORY_NOT_DIGIT", "CATEGORY_NOT_SPACE", "CATEGORY_NOT_WORD", "CATEGORY_NOT_LINEBREAK",
                    "CATEGORY_UNI_NOT_DIGIT", "CATEGORY_UNI_NOT_SPACE", "CATEGORY_UNI_NOT_WORD",
                    "CATEGORY_UNI_NOT_LINEBREAK", "CATEGORY_LOC_NOT_WORD"}


def _within_sentences(pattern: re.Pattern[str], stop: str) -> bool:
    """Whether every match of ``pattern`` in a text is a match in one of its sentences (cut at ``stop``).

    True only when proven from the parsed pattern: no match can hold ``stop``, none can look past its
    own characters (a word boundary may, as ``stop`` is no word character) and none is empty. Anything
    else, or a parser that changed, gives False: the pattern is then matched over whole texts.
    """
    try:
        sre = importlib.import_module("re._constants")
        tree = importlib.import_module("re._parser").parse(pattern.pattern, pattern.flags)
    except Exception:  # noqa: BLE001 - a private module: any surprise means "not proven"
        return False
    code = ord(stop)

    def set_ok(items: Any) -> bool:
        negate = hit = False
        for op, av in items:
            if op is sre.NEGATE:
                negate = True
            elif op is sre.LITERAL:
                hit |= av == code
            elif op is sre.RANGE:
                hit |= av[0] <= code <= av[1]
            elif op is sre.CATEGORY and str(av) in _NO_STOP_CATEGORIES:
                pass
            elif op is sre.CATEGORY and str(av) in _STOP_CATEGORIES:
                hit = True
            else:
                return False
        return hit == negate

    def ok(sub: Any) -> bool:
        for op, av in sub:
            if op is sre.LITERAL:
                good = av != code
            elif op is sre.NOT_LITERAL:
                good = av == code
            elif op is sre.IN:
                good = set_ok(av)
            elif op is sre.AT:
                good = av is sre.AT_BOUNDARY
            elif op is sre.BRANCH:
                good = all(ok(b) for b in av[1])
            elif op is sre.SUBPATTERN:
                good = ok(av[-1])
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
                good = ok(av[2])
            elif op is getattr(sre, "ATOMIC_GROUP", None):
                good = ok(av)
            else:  # ANY, look-arounds, back references, conditionals, anchors
                good = False
            if not good:
                return False
        return True

    return ok(tree) and pattern.fullmatch("") is None


# --- per-record known identifiers -----------------------------------------------------------

def _guess_kind(value: str) -> Kind:
    if "@" in value:
        return Kind.email
    digits = sum(ch.isdigit() for ch in value)
    if digits >= len(value) / 2:
        return Kind.id_card if valid_id_card(value) else Kind.other
    if re.search(f"(?:{_ADDR_UNIT_RE})", value) and len(value) > 5:
        return Kind.address
    return Kind.name


def _short(value: str) -> bool:
    """Too short to remove safely everywhere: one character; a Latin / numeric value under 3 (or a number
    under 5 digits)."""
    if len(value) >= 5:  # decided by the rules below, without a regular expression per form
        return False
    if len(value) < 2:
        return True
    if re.search(r"[\u3400-\u9fff]", value):
        return False
    return len(value) < 3 or (value.isdigit() and len(value) < 5)


class Known:
    """Identifiers known for one record (a row's or a DICOM file's own), compiled once for that record.

    Parameters
    ----------
    values
        Plain values (their kind guessed from their shape) or an :class:`IdentifierRegistry`
        (every variant, with its kind).
    """

    def __init__(self, values: Iterable[object] | IdentifierRegistry) -> None:
        pairs: dict[str, Kind] = {}
        items: Iterable[tuple[Kind, str]]
        if isinstance(values, IdentifierRegistry):
            items = values.items()
        else:
            items = ((Kind.other, str(v)) for v in values if v is not None and not _isna(v))
        for kind, v in items:
            v = _norm(v).strip()
            if not v or len(v) < 2:
                continue
            k = _guess_kind(v) if kind is Kind.other and not isinstance(values, IdentifierRegistry) else kind
            pairs.setdefault(_lower(v), k)
        self.kinds = pairs
        self.pattern = _alternation(pairs)

    def __bool__(self) -> bool:
        return self.pattern is not None

    def spans(self, low: str) -> Iterable[tuple[int, int, Kind]]:
        """Matches in lowercased, folded text."""
        if self.pattern is None:
            return
        for m in self.pattern.finditer(low):
            yield m.start(), m.end(), self.kinds.get(m.group(), Kind.other)


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _alternation(values: Iterable[str]) -> re.Pattern[str] | None:
    alts = sorted(set(values), key=len, reverse=True)  # longest first: the full address before its prefix
    if not alts:
        return None

    def alt(v: str) -> str:
        # Latin names and IDs match as whole words ("Li" must not cut "Clinical"); CJK text has
        # no spaces between words, so a Chinese name matches anywhere
        head = r"(?<![0-9a-z\u00c0-\u024f])" if _word(v[0]) else ""
        tail = r"(?![0-9a-z\u00c0-\u024f])" if _word(v[-1]) else ""
        return head + re.escape(v) + tail

    return re.compile("|".join(alt(v) for v in alts))


# --- the scrubber -----------------------------------------------------------------------------

_PRIORITY = {Kind.id_card: 9, Kind.phone: 8, Kind.email: 8, Kind.birth_date: 7, Kind.date: 6, Kind.address: 5,
             Kind.name: 4, Kind.staff_name: 4, Kind.other: 0}

Span = tuple[int, int, Kind]
# Kinds by number in what the scrubber keeps: tuples of numbers and strings only, which the cyclic garbage
# collector stops tracking, so a large sentence cache costs it nothing (with Kind members in them, every
# collection walked the whole cache: one-by-one scrubs ran at half speed)
_KINDS = tuple(Kind)
_CODE = {k: i for i, k in enumerate(_KINDS)}
_CODE_TOKEN = tuple(token(k) for k in _KINDS)
# A span as sorted for merging: (start, -length, -priority, rank, end, kind number). The rank is the order
# in which the whole-text scrub collected them - registry 0, the record's own identifiers 1, detectors 2,
# addresses 3, MRN shapes 4, Chinese names 5, pinyin names 6 - so that of two equal spans the first
# collected gives the kind, whichever way they were found.
_Sortable = tuple[int, int, int, int, int, int]
_Coded = tuple[int, int, int]  # start, end, kind number
# A sentence folded; its spans (None: none) as a range of a flat tuple of the sorted spans' numbers, and
# where in that tuple's text the sentence starts; and the sentence scrubbed. Only strings and numbers, in
# tuples no deeper than two, which the collector stops tracking at its first pass over them
_Entry = tuple[str, tuple[tuple[int, ...], int, int, int] | None, str]

# Sentences end at 。, which no detector, registry form (checked when the automaton is built) or name
# rule matches or reads across, so a text's findings are its sentences' findings: each distinct sentence
# is scrubbed once and cached (clinical notes repeat theirs), and many sentences are scrubbed together
# joined by 。 in one pass of each automaton and pattern, instead of one pass per text.
_SENTENCE = "。"
_CACHE_SENTENCE_MAX = 500  # longer sentences rarely repeat
_GROWS_WHEN_LOWERED = "\u0130"  # the one character whose lowercase is two (İ); see _lower
_PARALLEL_MIN_CHARS = 400_000  # below this, starting worker processes costs more than it saves
_FOLD_NUMPY_MIN = 2_000


def _sortable(spans: Iterable[Span], rank: int) -> list[_Sortable]:
    return [(a, a - b, -_PRIORITY.get(k, 3), rank, b, _CODE[k]) for a, b, k in spans]


def _merge_sorted(spans: Sequence[_Sortable]) -> list[_Coded]:
    """Overlapping spans (sorted) become one, of the kind of the longest (then the more specific, then the
    first collected)."""
    out: list[_Coded] = []
    ca = cb = ck = -1
    for a, _, _, _, b, k in spans:
        if b <= a:
            continue
        if a < cb:
            if b > cb:
                cb = b
            continue
        if cb >= 0:
            out.append((ca, cb, ck))
        ca, cb, ck = a, b, k
    if cb >= 0:
        out.append((ca, cb, ck))
    return out


def _fold_many(text: str) -> str:
    """:func:`_norm` of a long text: one vectorised pass instead of a substitution per full-width character."""
    if len(text) < _FOLD_NUMPY_MIN or not _FULL_WIDTH.search(text):
        return _norm(text)
    import numpy as np

    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).copy()
    codes[(codes >= 0xFF01) & (codes <= 0xFF5E)] -= 0xFEE0
    codes[codes == 0x3000] = 0x20
    return codes.tobytes().decode("utf-32-le", "surrogatepass")


def _lower_chars(text: str) -> str:
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _replace(text: str, spans: list[_Coded]) -> str:
    parts, pos = [], 0
    for a, b, k in spans:
        parts += [text[pos:a], _CODE_TOKEN[k]]
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


class Scrubber:
    """Scrub identifiers from free text with the cohort registry, detectors and the name detector.

    Build one per run and reuse it: the automaton over the registry's variants and the patterns
    compile once, and each distinct sentence is scrubbed once (a cache of recent sentences). Many
    texts at once (:meth:`scrub_many`, :meth:`scrub_series`) are scrubbed together, several times
    faster than one by one, with the same result. It pickles (as its registry and options; workers
    rebuild the automata).

    Parameters
    ----------
    registry
        The cohort's identifiers, every variant of which is removed wherever it occurs.
    mrn_patterns
        Regular expressions of the site's MRN shapes (cohort.yaml); matched as whole words.
    names
        Run the person-name detector for names no registry knows.
    cache_chars
        Sentences kept for reuse, in characters (emptied when full; 0 keeps none).

    Raises
    ------
    ConfigError
        An MRN pattern does not compile (the message names it).

    Examples
    --------
    >>> Scrubber().scrub("患者张三丰，电话13812345678。")
    '患者[姓名]，电话[电话]。'
    """

    def __init__(self, registry: IdentifierRegistry | None = None, *, mrn_patterns: Sequence[str] = (),
                 names: bool = True, cache_chars: int = 4_000_000) -> None:
        self.registry = registry
        self.mrn_patterns = tuple(mrn_patterns)
        self.names = names
        self.cache_chars = cache_chars
        self._mrn = compile_mrn_patterns(self.mrn_patterns)
        # MRN shapes proven not to reach across 。 are matched per sentence (and cached with it)
        self._mrn_sentence = [p for p in self._mrn if _within_sentences(p, _SENTENCE)]
        self._mrn_text = [p for p in self._mrn if p not in self._mrn_sentence]
        self._ac: Any = None
        self._ac_kinds: list[Kind] = []
        self._ac_head = self._ac_tail = b""
        self._sentence_local = True  # no registry form holds 。
        self._cache: dict[str, _Entry] = {}
        self._scrubbed: dict[str, str] = {}  # sentence -> sentence scrubbed (the cache's third field)
        self._uncacheable: list[str] = []  # sentences of the call too long to keep (dropped after it)
        self._cached_chars = 0
        if registry:
            self._build(registry)
        self._detector: Any = None
        if names:
            from .names import NameDetector, lexicon

            lexicon()  # load jieba's dictionary and the pinyin tables now, not inside the first scrub
            self._detector = NameDetector()
            self._detector.find_pinyin("Zhang San")

    def _build(self, registry: IdentifierRegistry) -> None:
        import ahocorasick_rs

        # one pattern per lowercase form; of the kinds holding a form, the higher priority decides its
        # token, and of equal priorities the kind added first: kinds are applied from the lowest
        # priority up (equal ones last-added first), each overwriting the forms it shares
        groups = list(registry.forms_by_kind())
        order = sorted(range(len(groups)), key=lambda i: (_PRIORITY.get(groups[i][0], 3), -i))
        forms: dict[str, Kind] = {}
        for i in order:
            kind, values = groups[i]
            forms.update(dict.fromkeys(_pattern_forms(values), kind))
        if not forms:
            return
        pats = sorted(forms)  # sorted patterns build the automaton two to three times faster
        self._ac = ahocorasick_rs.AhoCorasick(pats, matchkind=ahocorasick_rs.MatchKind.Standard)
        self._ac_kinds = list(map(forms.__getitem__, pats))
        word = _WORD_CHARS.__contains__
        self._ac_head = bytes(map(word, map(itemgetter(0), pats)))  # maps, not loops: half a million patterns
        self._ac_tail = bytes(map(word, map(itemgetter(-1), pats)))
        self._sentence_local = not any(_SENTENCE in p for p in pats)

    def __getstate__(self) -> dict[str, Any]:
        return {"registry": self.registry, "mrn_patterns": self.mrn_patterns, "names": self.names,
                "cache_chars": self.cache_chars}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["registry"], mrn_patterns=state["mrn_patterns"], names=state["names"],  # type: ignore[misc]
                      cache_chars=state.get("cache_chars", 4_000_000))

    def clear_cache(self) -> None:
        """Forget the sentences scrubbed so far (their memory; a benchmark's cold start)."""
        self._forget_sentences()
        if self._detector is not None:
            self._detector.clear_memo()

    def _forget_sentences(self) -> None:
        self._cache.clear()
        self._scrubbed.clear()
        self._cached_chars = 0

    # --- public -----------------------------------------------------------------------------

    def findings(self, text: str, *, known: Known | None = None) -> list[Finding]:
        """Where the identifiers in ``text`` are, merged and sorted, with their kinds.

        Parameters
        ----------
        text
            Free text.
        known
            Identifiers of this record in addition to the registry (:class:`Known`).
        """
        if not text:
            return []
        return [Finding(a, b, _KINDS[k]) for a, b, k in self._spans_many([text], known)[0]]

    def scrub(self, text: str, *, known: Known | None = None) -> str:
        """``text`` with each identifier replaced by its token (``[姓名]``, ``[电话]`` ...)."""
        if not isinstance(text, str) or not text:
            return text
        return self.scrub_many([text], known=known)[0]

    def scrub_many(self, texts: Iterable[str], *, known: Known | None = None, workers: int = 1) -> list[str]:
        """:meth:`scrub` of each text, all at once: the same result, several times faster than one by one.

        Parameters
        ----------
        texts
            Free texts; an item that is not a non-empty string is returned as it is.
        known
            Identifiers of these texts' record in addition to the registry (:class:`Known`).
        workers
            Processes to share a large input (over about 400,000 characters) between. The workers
            are forked, so they share the built automata; where fork is not available, in a daemonic
            process or in one running other threads (a Jupyter kernel), the texts are scrubbed here.

        Returns
        -------
        One scrubbed text per input text, in order.
        """
        items = list(texts)
        idx = [i for i, t in enumerate(items) if isinstance(t, str) and t]
        todo = [items[i] for i in idx]
        done = self._scrub_texts(todo, known, workers)
        for i, r in zip(idx, done, strict=True):
            items[i] = r
        return items

    def scrub_series(self, s: pd.Series, *, workers: int = 1) -> pd.Series:
        """:meth:`scrub` over a column: ``string`` dtype, missing stays missing, each distinct value
        scrubbed once (real columns repeat their values), all of them together (:meth:`scrub_many`)."""
        values = s.astype("string")
        codes, uniques = pd.factorize(values)
        if not len(uniques):
            return pd.Series(pd.NA, index=s.index, dtype="string")
        clean = self.scrub_many([str(u) for u in uniques], workers=workers)
        out = pd.array([*clean, pd.NA], dtype="string")  # code -1 (missing) takes the last
        return pd.Series(out[codes], index=s.index, dtype="string")

    # --- the engine -------------------------------------------------------------------------

    def _scrub_texts(self, texts: Sequence[str], known: Known | None, workers: int = 1) -> list[str]:
        """The texts scrubbed: most are their sentences scrubbed, joined again."""
        if workers > 1 and sum(map(len, texts)) >= _PARALLEL_MIN_CHARS and _can_fork():
            return _scrub_forked(self, texts, known, workers)
        with _collector_paused():
            split = [t.split(_SENTENCE) for t in texts]
            odd = self._prepare(texts, split)
            scrubbed = self._scrubbed.__getitem__
            join = _SENTENCE.join
            joinable = known is None and not self._mrn_text and self._sentence_local
            out = []
            for t, sentences in zip(texts, split, strict=True):
                if joinable and not _address_chain(t) and not (odd and _GROWS_WHEN_LOWERED in t):
                    # no span reaches across 。 and the text adds none of its own: each sentence is scrubbed
                    # apart, so the text is its scrubbed sentences joined
                    out.append(scrubbed(t) if len(sentences) == 1 else join(map(scrubbed, sentences)))
                else:
                    spans = self._assemble(t, sentences, odd if _GROWS_WHEN_LOWERED in t else self._cache, known)
                    out.append(_replace(t, spans) if spans else t)
            self._keep_cache_small()
            return out

    def _spans_many(self, texts: Sequence[str], known: Known | None) -> list[list[_Coded]]:
        """Merged spans of each (non-empty) text."""
        with _collector_paused():
            split = [t.split(_SENTENCE) for t in texts]
            odd = self._prepare(texts, split)
            out = [self._assemble(t, sentences, odd if _GROWS_WHEN_LOWERED in t else self._cache, known)
                   for t, sentences in zip(texts, split, strict=True)]
            self._keep_cache_small()
            return out

    def _prepare(self, texts: Sequence[str], split: list[list[str]]) -> dict[str, _Entry]:
        """Scrub the sentences of ``texts`` (cut at 。 in ``split``) that are not in the cache, into the cache;
        return the entries of texts lowered character by character (see _lower), which are not cached."""
        if self._cached_chars > self.cache_chars:
            self._forget_sentences()
        odd_texts = [i for i, t in enumerate(texts) if _GROWS_WHEN_LOWERED in t]
        skip = set(odd_texts)
        fresh = set().union(*(x for i, x in enumerate(split) if i not in skip) if skip else split)
        # difference, not difference_update: that one walks the whole cache, this one only the sentences
        fresh = fresh.difference(self._cache)
        if fresh:
            entries: dict[str, Any] = dict.fromkeys(fresh)
            self._compute(entries, chars=False)
            self._cache.update(entries)
            self._scrubbed.update(zip(entries, map(itemgetter(2), entries.values()), strict=True))
            self._cached_chars += sum(map(len, fresh))
            self._uncacheable = [x for x in fresh if len(x) > _CACHE_SENTENCE_MAX]
        odd: dict[str, Any] = {}
        if odd_texts:
            odd = dict.fromkeys(set().union(*(split[i] for i in odd_texts)))
            self._compute(odd, chars=True)
        return odd

    def _keep_cache_small(self) -> None:
        """Drop what the cache should not keep: everything when it is off, long sentences (rarely repeated)."""
        if not self.cache_chars:
            self._forget_sentences()
        for x in self._uncacheable:
            if self._cache.pop(x, None) is not None:
                del self._scrubbed[x]
                self._cached_chars -= len(x)
        self._uncacheable = []

    def _compute(self, entries: dict[str, Any], *, chars: bool) -> None:
        """Fill ``entries`` (sentence -> entry) by scrubbing all its sentences together, joined by 。.

        The spans of all sentences are found, sorted, merged and replaced in one go (none holds a 。, so
        each sentence's are its own); each entry points at its range of the sorted spans.
        """
        keys = list(entries)
        raw = _SENTENCE.join(keys)
        buf = _fold_many(raw)
        spans: list[_Sortable] = []
        if self._ac is not None and self._sentence_local:
            spans += _sortable(self._registry_spans(_lower_chars(buf) if chars else buf.lower()), 0)
        starts = list(accumulate(map((1).__add__, map(len, keys[:-1])), initial=0))  # each sentence and its 。
        det: list[Span] = []
        _detect(buf, det, starts)
        spans += _sortable(det, 2)
        for pat in self._mrn_sentence:
            mrn, p_mrn = _CODE[Kind.mrn], -_PRIORITY.get(Kind.mrn, 3)
            spans += [(a, a - b, p_mrn, 4, b, mrn) for a, b in (m.span() for m in pat.finditer(buf))
                      if b > a and _bounded(buf, a, b)]
        if self._detector is not None:
            name, p_name = _CODE[Kind.name], -_PRIORITY[Kind.name]
            spans += [(a, a - b, p_name, 5, b, name) for a, b in self._detector.find(buf)]
            if _HAS_UPPER.search(buf):
                spans += [(a, a - b, p_name, 6, b, name) for a, b in self._detector.find_pinyin(buf)]
        spans.sort()
        scrubbed = _replace(raw, _merge_sorted(spans)).split(_SENTENCE) if spans else keys
        kept = tuple(chain.from_iterable(spans))  # flat: six numbers a span (see _Entry)
        folded = buf.split(_SENTENCE) if buf != raw else keys
        # the spans of sentence i are those starting from starts[i] on, up to the next sentence's
        first = _first_at(spans, starts)
        n = len(spans)
        for i, k in enumerate(keys):
            lo, hi = first[i], first[i + 1] if i + 1 < len(keys) else n
            f = folded[i]
            entries[k] = (k if f == k else f, (kept, 6 * lo, 6 * hi, starts[i]) if hi > lo else None, scrubbed[i])

    def _registry_spans(self, low: str) -> list[Span]:
        heads, tails, kinds = self._ac_head, self._ac_tail, self._ac_kinds
        out = []
        n = len(low)
        for pi, a, b in self._ac.find_matches_as_indexes(low, overlapping=True):
            if (heads[pi] and a > 0 and low[a - 1] in _WORD_CHARS) or (tails[pi] and b < n and low[b] in _WORD_CHARS):
                continue
            out.append((a, b, kinds[pi]))
        return out

    def _assemble(self, text: str, sentences: list[str], entries: dict[str, _Entry], known: Known | None
                  ) -> list[_Coded]:
        """A text's merged spans: its sentences' (shifted to the text), then its own (MRN shapes, the
        record's identifiers, addresses)."""
        spans: list[_Sortable] = []
        whole = bool(self._mrn_text) or bool(known) or not self._sentence_local or _ADDR_HINT.search(text) is not None
        folded_parts: list[str] = []
        off = 0
        for x in sentences:
            e = entries[x]
            if e[1] is not None:
                found, lo, hi, s0 = e[1]
                d = off - s0
                it = iter(found[lo:hi])
                spans += [(a + d, n, p, r, b + d, k) for a, n, p, r, b, k in zip(it, it, it, it, it, it, strict=True)]
            if whole:
                folded_parts.append(e[0])
            off += len(x) + 1
        folded = _SENTENCE.join(folded_parts) if whole else ""
        if not whole:
            return _merge_sorted(spans) if spans else []
        n_sentence = len(spans)
        low = _lower(folded) if (known or (self._ac is not None and not self._sentence_local)) else ""
        if self._ac is not None and not self._sentence_local:
            spans += _sortable(self._registry_spans(low), 0)
        if known:
            spans += _sortable(known.spans(low), 1)
        if _ADDR_HINT.search(folded):
            addr: list[Span] = []
            _addresses(folded, addr)
            spans += _sortable(addr, 3)
        for pat in self._mrn_text:
            for m in pat.finditer(folded):
                a, b = m.span()
                if b > a and _bounded(folded, a, b):
                    spans.append((a, a - b, -_PRIORITY.get(Kind.mrn, 3), 4, b, _CODE[Kind.mrn]))
        if len(spans) > n_sentence:
            spans.sort()
        return _merge_sorted(spans)


def _first_at(spans: Sequence[_Sortable], starts: list[int]) -> list[int]:
    """For each of ``starts`` (ascending), the index of the first of ``spans`` (sorted) starting there or later."""
    if not spans:
        return [0] * len(starts)
    import numpy as np

    return np.searchsorted(np.fromiter((s[0] for s in spans), dtype=np.int64, count=len(spans)),
                           np.asarray(starts, dtype=np.int64), side="left").tolist()


@contextmanager
def _collector_paused() -> Iterator[None]:
    # The cyclic garbage collector walks every tracked object of the process (pandas, pydicom, the
    # lexicon ...) each time enough new objects survive, and scrubbing makes many small tuples: it took
    # half of the time. Nothing here makes a reference cycle, so reference counting frees all of it.
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _address_chain(text: str) -> bool:
    """Whether :func:`_addresses` could find an address in ``text``: two place characters 16 apart or closer."""
    m = _ADDR_HINT.search(text)
    if m is None:
        return False
    hints = [h.start() for h in _ADDR_HINT.finditer(text, m.start())]
    return any(b - a <= 16 for a, b in pairwise(hints))


def _pattern_forms(values: Iterable[str]) -> list[str]:
    """Registry forms as matched: folded, stripped, lowercased; the too short left out (:func:`_short`)."""
    vals = list(values)
    joined = "\x00".join(vals)
    if joined.count("\x00") != max(len(vals) - 1, 0):  # a form holding the separator: one by one
        return [f for f in (_lower(_norm(v).strip()) for v in vals) if f and not _short(f)]
    folded = _norm(joined)
    low = folded.lower()
    # lowering the forms joined is lowering each (the context of a final sigma stops at \x00), unless a
    # form holds a character whose lowercase is longer
    forms = low.split("\x00") if len(low) == len(folded) else [_lower(f.strip()) for f in folded.split("\x00")]
    return [f for f in map(str.strip, forms) if len(f) >= 5 or (f and not _short(f))]


def _can_fork() -> bool:
    import multiprocessing as mp
    import threading

    # forking a process that runs other threads (a Jupyter kernel, a test runner) can deadlock: there the
    # texts are scrubbed in this process, as the run's executors avoid fork for the same reason
    return ("fork" in mp.get_all_start_methods() and not mp.current_process().daemon
            and threading.active_count() == 1)


# in a worker: what it shares with the process that forked it
_FORKED: tuple[Scrubber, Sequence[str], Known | None, list[tuple[int, int]], Any] | None = None


def _share(sc: Scrubber, texts: Sequence[str], known: Known | None, parts: list[tuple[int, int]], nxt: Any) -> None:
    global _FORKED
    _FORKED = (sc, texts, known, parts, nxt)


def _scrub_parts() -> dict[int, list[str]]:
    """Scrub parts until none is left, taking the next one from the counter shared by every process."""
    assert _FORKED is not None
    sc, texts, known, parts, nxt = _FORKED
    done: dict[int, list[str]] = {}
    while True:
        with nxt.get_lock():
            i = nxt.value
            nxt.value += 1
        if i >= len(parts):
            return done
        lo, hi = parts[i]
        done[i] = sc._scrub_texts(texts[lo:hi], known)


def _scrub_forked(sc: Scrubber, texts: Sequence[str], known: Known | None, workers: int) -> list[str]:
    """Scrub ``texts`` in ``workers`` processes: this one and ``workers - 1`` forked ones, which inherit the
    scrubber and the texts. The texts are cut into parts of about as many characters, a few per process;
    each process takes the next part left until none is (a busier core takes fewer), with its own sentence
    cache, and sends back scrubbed texts only."""
    import multiprocessing as mp

    n_parts = workers * 4
    total = sum(map(len, texts))
    parts: list[tuple[int, int]] = []
    lo = acc = 0
    for i, t in enumerate(texts):
        acc += len(t)
        if acc * n_parts >= total * (len(parts) + 1):
            parts.append((lo, i + 1))
            lo = i + 1
    if lo < len(texts):
        parts.append((lo, len(texts)))
    ctx = mp.get_context("fork")
    nxt = ctx.Value("i", 0)
    # forked workers get the initializer's arguments by inheritance, not pickling; scrubbing is pure Python
    # and regular expressions, so there are no BLAS or OpenMP threads to pin per worker
    with ctx.Pool(workers - 1, initializer=_share, initargs=(sc, texts, known, parts, nxt)) as pool:
        pending = [pool.apply_async(_scrub_parts) for _ in range(workers - 1)]
        _share(sc, texts, known, parts, nxt)
        try:
            done = _scrub_parts()
        finally:
            _share_none()
        for p in pending:
            done.update(p.get())
    return [t for i in range(len(parts)) for t in done[i]]


def _share_none() -> None:
    global _FORKED
    _FORKED = None


_HAS_UPPER = re.compile("[A-Z]")


# --- the earlier interface ----------------------------------------------------------------------

@cache
def _default() -> Scrubber:
    return Scrubber()


def _known_pattern(known: Iterable[object]) -> re.Pattern[str] | None:
    """A case-insensitive pattern of a record's own identifiers (Latin ones as whole words)."""
    values = {_norm(str(k)).strip() for k in known if k is not None and not _isna(k) and str(k).strip()}
    values = {v for v in values if len(v) >= 2}
    pat = _alternation(_lower(v) for v in values)
    return None if pat is None else re.compile(pat.pattern, re.IGNORECASE)


def _scrub(text: str, known: re.Pattern[str] | Known | None) -> str:
    if isinstance(known, re.Pattern):
        k = Known(())
        k.pattern = re.compile(known.pattern)  # lowercased values: matched on lowered text
        known = k
    return _default().scrub(text, known=known)


def scrub(text: str, *, known: Iterable[object] = ()) -> str:
    """Scrub one text with the detectors and this text's own known identifiers (no registry).

    Parameters
    ----------
    text
        Free text.
    known
        Names, addresses and IDs known for this text's patient (removed literally, whatever
        their shape).

    Returns
    -------
    The text with every identifier replaced by its token; everything else is left as written.
    """
    if not isinstance(text, str):
        return text
    k = Known(known)
    return _default().scrub(text, known=k if k else None)


def scrub_series(s: pd.Series, known_by_row: pd.Series | Sequence[Iterable[object]] | None = None,
                 *, scrubber: Scrubber | None = None) -> pd.Series:
    """:func:`scrub` over a column, with each row's own known identifiers.

    Parameters
    ----------
    s
        A text column; missing values stay missing.
    known_by_row
        Per row, the identifiers known for that row's patient (aligned with ``s``'s index, or a
        sequence of the same length); see :func:`curation.deid.tabular.known_identifiers`.
    scrubber
        The run's scrubber (registry and MRN shapes); default a registry-less one.

    Returns
    -------
    A new ``string`` Series.
    """
    sc = scrubber or _default()
    if known_by_row is None:
        return sc.scrub_series(s)
    if isinstance(known_by_row, pd.Series):
        known: list[object] = known_by_row.reindex(s.index).tolist()
    else:
        known = list(known_by_row)
    vals: list[object] = [pd.NA] * len(known)
    # the rows of each distinct set of known identifiers (a patient's) are scrubbed together
    rows: dict[tuple[str, ...], tuple[tuple[object, ...], list[int]]] = {}
    for i, (t, k) in enumerate(zip(s.astype("string").tolist(), known, strict=True)):
        if not isinstance(t, str):
            continue
        ks = (k,) if isinstance(k, str) else (tuple(k) if isinstance(k, Iterable) else ())
        rows.setdefault(tuple(str(x) for x in ks), (ks, []))[1].append(i)
        vals[i] = t
    for ks, idx in rows.values():
        kn = Known(ks)
        for i, out in zip(idx, sc.scrub_many([str(vals[i]) for i in idx], known=kn if kn else None), strict=True):
            vals[i] = out
    return pd.Series(vals, index=s.index, dtype="string")


# --- measuring ------------------------------------------------------------------------------------

def _survives(phi: str, out: str) -> bool:
    n = min(len(phi), max(2, (len(phi) + 1) // 2))
    return any(phi[i:i + n] in out for i in range(len(phi) - n + 1))


def measure_recall(examples: Iterable[dict[str, Any]], *, scrubber: Scrubber | None = None
                   ) -> tuple[float, int, int]:
    """Recall of scrubbing on labelled examples.

    Each example is ``{"text": str, "known": [...], "phi": [...]}`` where ``phi`` lists every
    identifier string in ``text``. Strictly, an identifier counts as caught only when no piece
    of it half its length or longer (at least 2 characters) survives in the output, so a phone
    number with only its last digits removed is a miss.

    Returns
    -------
    (recall, caught, total)
    """
    sc = scrubber or _default()
    caught = total = 0
    for ex in examples:
        k = Known(ex.get("known") or ())
        out = _norm(sc.scrub(str(ex["text"]), known=k if k else None))
        for phi in ex.get("phi") or ():
            total += 1
            caught += not _survives(_norm(str(phi)), out)
    return (caught / total if total else 1.0), caught, total


def evaluate(examples: Iterable[dict[str, Any]], scrubber: Scrubber,
             *, names_only: Callable[[str], list[tuple[int, int]]] | None = None) -> pd.DataFrame:
    """Recall per kind, and the name detector's precision and recall, on span-labelled examples.

    Each example is ``{"text": str, "spans": [{"start", "end", "kind"}, ...]}``. An identifier is
    caught when every one of its characters is inside a finding; a name finding is correct when
    it overlaps a labelled name.

    Parameters
    ----------
    examples
        Labelled texts.
    scrubber
        The scrubber measured (its registry decides the ``registry`` figures).
    names_only
        Name finder measured for precision and recall (default: the scrubber's detector, without
        the registry and the other detectors).

    Returns
    -------
    One row per kind (``kind``, ``n``, ``caught``, ``recall``) and a row ``name_detector`` with
    ``precision`` as well.
    """
    from .names import NameDetector

    det = scrubber._detector or NameDetector()

    def default_names(t: str) -> list[tuple[int, int]]:
        f = _norm(t)
        return det.find(f) + det.find_pinyin(f)

    find_names = names_only or default_names
    per: dict[str, list[int]] = {}
    tp_names = n_pred = n_gold = caught_gold = 0
    for ex in examples:
        text = ex["text"]
        found = scrubber.findings(text)
        covered = bytearray(len(text))
        for f in found:
            covered[f.start:f.end] = b"\x01" * (f.end - f.start)
        golds = ex.get("spans") or []
        for g in golds:
            row = per.setdefault(g["kind"], [0, 0])
            row[0] += 1
            row[1] += all(covered[g["start"]:g["end"]])
        names = [g for g in golds if g["kind"] in ("name", "staff_name")]
        pred = find_names(text)
        n_pred += len(pred)
        tp_names += sum(any(a < g["end"] and g["start"] < b for g in names) for a, b in pred)
        n_gold += len(names)
        for g in names:
            mask = bytearray(len(text))
            for a, b in pred:
                mask[a:b] = b"\x01" * (b - a)
            caught_gold += all(mask[g["start"]:g["end"]])
    rows = [{"kind": k, "n": n, "caught": c, "recall": c / n if n else 1.0, "precision": float("nan")}
            for k, (n, c) in sorted(per.items())]
    rows.append({"kind": "name_detector", "n": n_gold, "caught": caught_gold,
                 "recall": caught_gold / n_gold if n_gold else 1.0,
                 "precision": tp_names / n_pred if n_pred else 1.0})
    return pd.DataFrame(rows)
