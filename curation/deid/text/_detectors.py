"""Pattern detectors: labelled values, phones, resident ID numbers, dates, e-mail, addresses, MRN shapes.

Each runs over folded text (:func:`~._common._norm`). None but the address one reads across a 。, which
lets the scrubber scrub texts sentence by sentence (:func:`_within_sentences` proves it of a site's MRN
shapes).
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import pairwise
from typing import Any

from ...errors import ConfigError
from ..registry import Kind
from ._common import _bounded

_LABEL_KIND = {
    "住院号": Kind.admission_number,
    "住院ID": Kind.admission_number,
    "住院登记号": Kind.admission_number,
    "病案号": Kind.mrn,
    "病历号": Kind.mrn,
    "门诊号": Kind.mrn,
    "登记号": Kind.mrn,
    "就诊号": Kind.mrn,
    "就诊卡号": Kind.mrn,
    "ID号": Kind.mrn,
    "MRN": Kind.mrn,
    "PID": Kind.mrn,
    "患者ID": Kind.mrn,
    "检查号": Kind.accession,
    "影像号": Kind.accession,
    "放射号": Kind.accession,
    "申请单号": Kind.accession,
    "标本号": Kind.specimen_id,
    "病理号": Kind.specimen_id,
    "样本号": Kind.sample_id,
    "条码号": Kind.sample_id,
    "医保号": Kind.other,
    "医保卡号": Kind.other,
    "卡号": Kind.other,
    "身份证号码": Kind.id_card,
    "身份证号": Kind.id_card,
    "身份证": Kind.id_card,
    "证件号码": Kind.id_card,
    "证件号": Kind.id_card,
}
_ID_LABELS = "|".join(sorted(_LABEL_KIND, key=len, reverse=True))
_PHONE_LABELS = (
    "联系电话",
    "电话号码",
    "电话",
    "手机号码",
    "手机号",
    "手机",
    "联系方式",
    "Tel",
    "TEL",
    "Phone",
    "PHONE",
)
_NAME_LABELS = ("患者姓名", "病人姓名", "姓名", "联系人", "Name", "NAME")
_ADDRESS_LABELS = (
    "家庭住址",
    "家庭地址",
    "现住址",
    "居住地址",
    "住址",
    "地址",
    "家住",
    "现住",
    "户籍地址",
    "户籍地",
    "户籍",
    "籍贯",
    "Address",
    "ADDRESS",
)
_LABELLED: list[tuple[re.Pattern[str], Kind | None]] = [
    (re.compile(rf"(?P<label>{_ID_LABELS})\s*[:：]?\s*(?P<v>[A-Za-z0-9][A-Za-z0-9\-/]{{2,}})"), None),
    (re.compile(rf"(?:{'|'.join(_PHONE_LABELS)})\s*[:：]?\s*(?P<v>\+?[\d\-\s()]{{7,}}\d)"), Kind.phone),
    (
        re.compile(
            rf"(?:{'|'.join(_NAME_LABELS)})\s*[:：]\s*"
            r"(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff·]{1,4}|[A-Za-z]+(?:[ ^][A-Za-z]+){0,2})"
        ),
        Kind.name,
    ),
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
    ("省|自治区|特别行政区", 0),
    ("市|自治州|地区|盟", 1),
    ("区|县|旗", 2),
    ("镇|乡|街道|开发区|新区", 3),
    ("村|社区|小区|路|大道|街|巷|胡同|弄|里", 4),
    ("号院|号楼|号|弄", 5),
    ("栋|幢|座|单元|楼|层", 6),
    ("室|户", 7),
]
_ADDR_UNIT_RE = "|".join(sorted((u for us, _ in _ADDR_UNITS for u in us.split("|")), key=len, reverse=True))
_ADDR_LEVEL = {u: lvl for us, lvl in _ADDR_UNITS for u in us.split("|")}
_ADDR_SEG = re.compile(rf"[\u4e00-\u9fff0-9A-Za-z\-#]{{1,10}}?(?:{_ADDR_UNIT_RE})")
# Characters of the place levels an address needs (province to street); the segment pattern runs only
# on windows around two of them close together, not over the whole text.
_ADDR_HINT = re.compile("[省市州盟区县旗镇乡村路街巷弄]")
_ADDR_NOT_START = (
    "患者",
    "病人",
    "家住",
    "现住",
    "住在",
    "住址",
    "地址",
    "居住",
    "来自",
    "位于",
    "户籍",
    "在",
    "于",
    "住",
    "自",
    "至",
    "到",
    "往",
    "回",
    "去",
    "由",
    "从",
)


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
            w18 = _segment_windows(
                starts,
                n,
                (
                    a
                    for a, b in long_ids
                    if b - a >= 14 or (b + 1 < n and (text[b] == "-" or text[b].isspace()) and text[b + 1] in "12")
                ),
            )
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
        levels = [s[2] for s in segs[i : j + 1]]
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


_NO_STOP_CATEGORIES = {
    "CATEGORY_DIGIT",
    "CATEGORY_SPACE",
    "CATEGORY_WORD",
    "CATEGORY_LINEBREAK",
    "CATEGORY_UNI_DIGIT",
    "CATEGORY_UNI_SPACE",
    "CATEGORY_UNI_WORD",
    "CATEGORY_UNI_LINEBREAK",
    "CATEGORY_LOC_WORD",
}
_STOP_CATEGORIES = {
    "CATEGORY_NOT_DIGIT",
    "CATEGORY_NOT_SPACE",
    "CATEGORY_NOT_WORD",
    "CATEGORY_NOT_LINEBREAK",
    "CATEGORY_UNI_NOT_DIGIT",
    "CATEGORY_UNI_NOT_SPACE",
    "CATEGORY_UNI_NOT_WORD",
    "CATEGORY_UNI_NOT_LINEBREAK",
    "CATEGORY_LOC_NOT_WORD",
}


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


def _address_chain(text: str) -> bool:
    """Whether :func:`_addresses` could find an address in ``text``: two place characters 16 apart or closer."""
    m = _ADDR_HINT.search(text)
    if m is None:
        return False
    hints = [h.start() for h in _ADDR_HINT.finditer(text, m.start())]
    return any(b - a <= 16 for a, b in pairwise(hints))
