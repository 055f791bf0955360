"""What every part of the scrubber shares: replacement tokens, full-width folding, word edges, :class:`Finding`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..registry import Kind

REDACTED = "[REDACTED]"  # the earlier single token; kept for callers that import it

TOKENS: dict[Kind, str] = {
    Kind.name: "[姓名]",
    Kind.staff_name: "[姓名]",
    Kind.phone: "[电话]",
    Kind.id_card: "[证件号]",
    Kind.birth_date: "[日期]",
    Kind.date: "[日期]",
    Kind.address: "[地址]",
    Kind.email: "[邮箱]",
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
_WORD_CHARS = frozenset(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + "".join(map(chr, range(0xC0, 0x250)))
)


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
