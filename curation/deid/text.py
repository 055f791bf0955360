"""Free-text scrubbing for allow-listed text fields (pathology reports, notes).

Generic patterns remove resident ID numbers, phone numbers, e-mails, admission-number-like
tokens and values introduced by identifying labels (住院号：…, 姓名：…, 住址：…); the names,
addresses and IDs known for the row's patient are removed literally. Recall is measured on a
labelled synthetic set (tests/deid/phi_labelled.jsonl) with :func:`measure_recall`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

REDACTED = "[REDACTED]"

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
_SEP = r"[-\s\u2010-\u2015]?"
_LABEL_ID = (r"(?:住院号|住院ID|病案号|病历号|门诊号|登记号|检查号|影像号|标本号|样本号|ID号|MRN|PID|卡号|医保号"
             r"|身份证号?|证件号)")
_LABEL_PHONE = r"(?:联系电话|电话号码|电话|手机号?|联系方式|Tel|TEL|Phone)"
_LABEL_NAME = r"(?:患者姓名|病人姓名|姓名|联系人|家属|Name|NAME)"
_LABEL_ADDR = r"(?:家庭住址|现住址|住址|地址|家住|现住|户籍地|Address)"

_PATTERNS: list[re.Pattern[str]] = [
    # labelled values first: the label tells us what the value is, whatever its shape
    re.compile(_LABEL_ID + r"\s*[:：]?\s*[A-Za-z0-9][A-Za-z0-9\-/]{2,}"),
    re.compile(_LABEL_PHONE + r"\s*[:：]?\s*\+?[\d\-\s()（）]{7,}\d"),
    re.compile(_LABEL_NAME + r"\s*[:：]\s*(?:[\u4e00-\u9fff·]{2,5}|[A-Za-z]+(?:[ ^][A-Za-z]+){0,2})"),
    re.compile(_LABEL_ADDR + r"\s*[:：]?\s*[^，。；;,\n]{2,60}"),
    # resident ID number (18 chars, last may be X; and the old 15-digit form)
    re.compile(_NOT_ALNUM_BEFORE + r"\d{6}" + _SEP + r"\d{8}" + _SEP + r"\d{3}[\dXx]" + _NOT_ALNUM_AFTER),
    re.compile(_NOT_ALNUM_BEFORE + r"\d{15}" + _NOT_ALNUM_AFTER),
    # mainland mobile numbers, with optional +86 and separators; landlines with area code
    re.compile(r"(?<![0-9])(?:\+?86[-\s]?)?1[3-9]\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}(?![0-9])"),
    re.compile(r"(?<![0-9])[(（]?0\d{2,3}[)）]?[-\s]?\d{7,8}(?![0-9])"),
    re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"),
    # admission-number-like tokens: 6+ digits, optionally with a short letter prefix (ZY2023001)
    re.compile(r"(?<![0-9A-Za-z.])[A-Za-z]{0,4}\d{6,}" + _NOT_ALNUM_AFTER),
]
_GENERIC = re.compile("|".join(f"(?:{p.pattern})" for p in _PATTERNS))


# Full-width ASCII forms (１３８…, ：, （）) are common in Chinese free text. Folding them one
# character for one keeps positions, so matches found on the folded text are cut from the original
# and the rest of the text (its punctuation included) is left exactly as written.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _norm(text: str) -> str:
    return text.translate(_FOLD)


def _known_pattern(known: Iterable[object]) -> re.Pattern[str] | None:
    values = {_norm(str(k)).strip() for k in known if k is not None and not pd.isna(k) and str(k).strip()}
    # single characters would wipe ordinary text; a 2-character Chinese name is still a name
    values = {v for v in values if len(v) >= 2}
    if not values:
        return None
    alts = sorted(values, key=len, reverse=True)  # longest first: the full address before its prefix

    def alt(v: str) -> str:
        # Latin names and IDs match as whole words ("Li" must not cut "Clinical"); CJK text has
        # no spaces between words, so a Chinese name matches anywhere
        if v[0].isascii() and v[0].isalnum():
            return _NOT_ALNUM_BEFORE + re.escape(v) + _NOT_ALNUM_AFTER
        return re.escape(v)

    return re.compile("|".join(alt(v) for v in alts), re.IGNORECASE)


def _spans(folded: str, pats: Iterable[re.Pattern[str]]) -> list[tuple[int, int]]:
    spans = sorted((m.start(), m.end()) for p in pats for m in p.finditer(folded) if m.end() > m.start())
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _scrub(text: str, known: re.Pattern[str] | None) -> str:
    folded = _norm(text)
    pats = [_GENERIC] if known is None else [known, _GENERIC]
    spans = _spans(folded, pats)
    if not spans:
        return text
    parts, pos = [], 0
    for a, b in spans:
        parts += [text[pos:a], REDACTED]
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


def scrub(text: str, *, known: Iterable[object] = ()) -> str:
    """Replace identifiers in one text by ``[REDACTED]``.

    Parameters
    ----------
    text
        Free text.
    known
        Names, addresses and IDs known for this text's patient (removed literally, whatever
        their shape).

    Returns
    -------
    The text with every match replaced; everything else is left as written.
    """
    if not isinstance(text, str):
        return text
    return _scrub(text, _known_pattern(known))


def scrub_series(s: pd.Series, known_by_row: pd.Series | Sequence[Iterable[object]] | None = None) -> pd.Series:
    """:func:`scrub` over a column, with each row's own known identifiers.

    Parameters
    ----------
    s
        A text column; missing values stay missing.
    known_by_row
        Per row, the identifiers known for that row's patient (aligned with ``s``'s index, or a
        sequence of the same length); see :func:`curation.deid.tabular.known_identifiers`.

    Returns
    -------
    A new ``string`` Series.
    """
    if known_by_row is None:
        known: list[object] = [()] * len(s)
    elif isinstance(known_by_row, pd.Series):
        known = known_by_row.reindex(s.index).tolist()
    else:
        known = list(known_by_row)
    vals = []
    for t, k in zip(s.astype("string").tolist(), known, strict=True):
        if not isinstance(t, str):
            vals.append(pd.NA)
            continue
        ks = (k,) if isinstance(k, str) else (k if isinstance(k, Iterable) else ())
        vals.append(_scrub(t, _known_pattern(ks)))
    return pd.Series(vals, index=s.index, dtype="string")


def _survives(phi: str, out: str) -> bool:
    n = min(len(phi), max(2, (len(phi) + 1) // 2))
    return any(phi[i:i + n] in out for i in range(len(phi) - n + 1))


def measure_recall(examples: Iterable[dict[str, Any]]) -> tuple[float, int, int]:
    """Recall of :func:`scrub` on labelled examples.

    Each example is ``{"text": str, "known": [...], "phi": [...]}`` where ``phi`` lists every
    identifier string in ``text``. Strictly, an identifier counts as caught only when no piece
    of it half its length or longer (at least 2 characters) survives in the output, so a phone
    number with only its last digits removed is a miss.

    Returns
    -------
    (recall, caught, total)
    """
    caught = total = 0
    for ex in examples:
        out = _norm(scrub(str(ex["text"]), known=ex.get("known") or ()))
        for phi in ex.get("phi") or ():
            total += 1
            caught += not _survives(_norm(str(phi)), out)
    return (caught / total if total else 1.0), caught, total
