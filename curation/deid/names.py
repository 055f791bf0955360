"""Person names that no registry knows: Chinese names by surname, lexicon and context; pinyin names by syllables.

Why jieba's lexicon and not ``jieba.posseg`` at run time: posseg tags person names (``nr``) with an
HMM over every character and runs at about 0.07 MB/s (bench/bench_scrub.py measures it), three
hundred times under the scrubber's 20 MB/s target. The same data it tags with - its dictionary of
about 350,000 words with part-of-speech tags, 60,000 of them three-character person names - is
used here directly:

- ordinary words that contain a surname character (高分化's 高分, 黄疸, 白细胞, 周围, 检查, 病史, 上叶)
  are matched by one leftmost-longest Aho-Corasick pass (forward maximum matching, in Rust), so a
  surname character inside a word never starts a name;
- a surname character left standing starts a candidate; its one or two following characters are
  scored by how much likelier each is in the given names of jieba's ``nr`` entries than in
  ordinary words (a character model learnt from the shipped dictionary, nothing downloaded);
- context decides how much evidence is needed: a cue before (患者, 家属, 之子, 报告医师：...) or
  after (先生, 女士, 医师, 签字, ，男，...) accepts a plausible name, no cue needs a likelier one.

Pinyin names (``ZHANG San``, ``Zhang-San``, ``ZHANGSAN``, ``San Zhang``, ``Zhang Sanfeng``) are found
by parsing capitalised Latin words into pinyin syllables with a pinyin surname on one side; a bare
surname alone is never a name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache

from . import pinyin as _py
from ._name_lexicon import (
    _CUED_WORD,
    _MASK,
    _NAME_WORD,
    _STRADDLE,
    _SURNAME,
    _VERB_WORD,
    lexicon,
)
from ._name_tables import (
    _ASCII_ALNUM,
    _CJK,
    _CUE_WORD_LENS,
    _CUE_WORD_SET,
    _NEXT_WORD_LENS,
    _NEXT_WORD_SET,
    _POST_CUE_LENS,
    _POST_CUE_SET,
    _POST_VERB_LENS,
    _POST_VERB_SET,
    _PRE_CUE_LENS,
    _PRE_CUE_SET,
    _SEP,
    _SINGLE,
    _WORD3_POST_SET,
    _WORD_POST_SET,
    PRE_FUNC,
    STOP,
    _ends_with,
    _starts_with,
)

__all__ = ["NameDetector", "dictionary_words", "inside_words"]

# A candidate's judgement reads at most 8 characters before its start (``_pre_level``) and 7 after it
# (surname, two given characters, a three-character cue); cue words are at most 4 characters long.
_BEFORE = 8
_AFTER = 8
_MEMO_MAX = 200_000


def dictionary_words() -> frozenset[str]:
    """jieba's dictionary words of two to four characters used at least
    :data:`~curation.deid._name_lexicon._WORD_MIN_FREQ` times (about 94,000; read with the lexicon, once)."""
    return lexicon().words


def inside_words(text: str, a: int, b: int) -> bool:
    """Whether the two characters ``text[a:b]`` straddle two ordinary words and no person word is beside them.

    The characters before and the first form a dictionary word, and the last and the characters after form
    one (常强 in 异常|强化), so the two are no name there; a person word before or after them (患者常强,
    常强先生) makes them one anyway. A registry holding a two-character name reads this before removing it.
    """
    words = dictionary_words()
    if not any(text[a - k : a + 1] in words for k in (1, 2, 3) if a >= k):
        return False
    if not any(text[b - 1 : b + k] in words for k in (1, 2, 3) if b + k <= len(text)):
        return False
    return NameDetector._pre_level(text, a) < 2 and NameDetector._post_level(text, b) < 2


class NameDetector:
    """Find Chinese and pinyin person names in text.

    Parameters
    ----------
    cue_threshold
        Least given-name score accepted after or before a context cue.
    clause_threshold
        Least score accepted for a candidate that stands alone between clause boundaries
        (start of a sentence, punctuation, a function word or common verb after it).
    bare_threshold
        Least score accepted without any cue (higher: no context vouches for it).
    """

    def __init__(
        self, *, cue_threshold: float = -1.95, clause_threshold: float = -0.9, bare_threshold: float = 2.0
    ) -> None:
        self.cue_threshold = cue_threshold
        self.clause_threshold = clause_threshold
        self.bare_threshold = bare_threshold
        # judgements by the text around a candidate, which is all they read: clinical text repeats
        # its phrases, so most candidates are judged once
        self._memo: dict[tuple[int, str, int], tuple[int, int, int, float] | tuple[()]] = {}

    def clear_memo(self) -> None:
        """Forget the judgements made so far."""
        self._memo.clear()

    def score(self, given: str) -> float:
        """Mean log-odds that the characters of ``given`` belong to a given name."""
        lex = lexicon()
        return sum(lex.char_score.get(ch, lex.default_score) for ch in given) / max(len(given), 1)

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans of Chinese person names in ``text`` (full-width ASCII folded by the caller)."""
        return [(a, b) for a, b, _, _ in self.candidates(text) if b > a]

    def candidates(self, text: str) -> list[tuple[int, int, int, float]]:
        """Every candidate judged: ``(start, end, cue level, score)``; ``end == start`` when rejected.

        The cue level is 2 for a person word before or after (患者, 医师, 先生 ...), 1 for a
        clause boundary on both sides, 0 for none.
        """
        if not _CJK.search(text):
            return []
        lex = lexicon()
        kinds, common = lex.kinds, lex.common
        memo = self._memo
        out: list[tuple[int, int, int, float]] = []
        last = 0
        for pi, a, b in lex.automaton.find_matches_as_indexes(text):
            kind = kinds[pi]
            # a word straddling a cue is judged even inside the previous name; the others are not
            if kind == _MASK or (a < last and kind != _STRADDLE):
                continue
            if kind in (_SURNAME, _NAME_WORD):
                # no given name can follow (a digit, punctuation, a function word): rejected as it stands
                nxt = b if kind == _SURNAME else a + 1
                ch = text[nxt : nxt + 1]
                if not ch or not "\u4e00" <= ch <= "\u9fff" or ch in STOP:
                    out.append((a, a, 0, 0.0))
                    continue
            elif kind == _VERB_WORD and not (
                text[b : b + 2] in _WORD_POST_SET or text[b + 1 : b + 3] in _WORD3_POST_SET
            ):
                continue  # no title after it (most verbs): only a masking word, decided without a look-up
            lo = a - _BEFORE if a > _BEFORE else 0
            key = (pi, text[lo : a + _AFTER], a - lo)
            rel = memo.get(key)
            if rel is None:
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                rel = memo[key] = self._decide(text, kind, a, b, common=common[pi] == 1)
            if rel:
                c = (a + rel[0], a + rel[1], rel[2], rel[3])
                out.append(c)
                if c[1] > c[0]:
                    last = c[1]
        return out

    def _decide(
        self, text: str, kind: int, a: int, b: int, *, common: bool = False
    ) -> tuple[int, int, int, float] | tuple[()]:
        """The judgement of one lexicon match, relative to its start; ``()`` when it is no candidate."""
        a0 = a
        if kind == _STRADDLE:
            # a word that straddles a cue and a surname (其女王华 read as 女王, 联系人马 as 人马)
            if self._pre_level(text, a + 1) != 2:
                return ()
            b = a + 2
            a += 1
        elif kind in (_CUED_WORD, _VERB_WORD):
            # an ordinary word starting with a surname character (于洋, 王国 of 王国强, 高欢) is a name only
            # where a person word vouches for it, and never when it is a cue word itself
            titled = text[a + 2 : a + 4] in _WORD_POST_SET or text[a + 3 : a + 5] in _WORD3_POST_SET
            if not titled and (kind == _VERB_WORD or self._pre_level(text, a) < 2):
                return ()  # nothing can vouch for it (most ordinary words): decided without judging
            if _starts_with(text[a : a + 4], _CUE_WORD_SET, _CUE_WORD_LENS):
                return ()
            c = self._judge(text, a, a + 1, ok=lambda end: self._word_vouched(text, kind, a, end, common))
            return (c[0] - a0, c[1] - a0, c[2], c[3]) if c[1] > c[0] else ()
        else:
            if kind == _SURNAME and text[a] in PRE_FUNC and text[a + 1 : a + 2] in _SINGLE:
                # 和 and 向 are surnames and function words: 张三和李四 names 李四, not 和李
                nxt = self._judge(text, a + 1, a + 2)
                if nxt[1] > nxt[0]:
                    return ()
            if kind != _SURNAME:
                b = a + 1
        c = self._judge(text, a, b)
        return (c[0] - a0, c[1] - a0, c[2], c[3])

    def _word_vouched(self, text: str, kind: int, a: int, b: int, common: bool) -> bool:
        """Whether a name ``text[a:b]`` that starts as an ordinary word is vouched for: a title after it
        (王国强女士, 高欢，女), or a person word before it and a clause boundary after it (患者于洋入院;
        a frequent word only before punctuation: 医师江东，)."""
        after = text[b : b + 2]
        if after in _WORD_POST_SET or (b - a >= 3 and after in _WORD3_POST_SET):
            return True
        if kind == _VERB_WORD or self._pre_level(text, a) < 2:
            return False
        if common and b - a == 2:
            # a frequent word names a person after a person word only where nothing follows it in the
            # clause (原主治医师江东，), not before a verb (患者常规复查, 家属全程陪同)
            nxt = text[b : b + 1]
            return not nxt or not "\u4e00" <= nxt <= "\u9fff"
        return self._post_level(text, b) >= 1

    @staticmethod
    def _pre_level(text: str, a: int) -> int:
        before = text[max(0, a - 8) : a].rstrip(_SEP)
        if _ends_with(before, _PRE_CUE_SET, _PRE_CUE_LENS):
            return 2
        if not before or not "\u4e00" <= before[-1] <= "\u9fff" or before[-1] in PRE_FUNC:
            return 1
        return 1 if a > len(before) and text[a - 1] in _SEP else 0

    @staticmethod
    def _post_level(text: str, end: int) -> int:
        after = text[end : end + 3]
        if _starts_with(after, _POST_CUE_SET, _POST_CUE_LENS):
            return 2
        return (
            1
            if (
                not after
                or not "\u4e00" <= after[0] <= "\u9fff"
                or after[0] in STOP
                or _starts_with(after, _POST_VERB_SET, _POST_VERB_LENS)
            )
            else 0
        )

    def _judge(
        self, text: str, a: int, b: int, *, ok: Callable[[int], bool] | None = None
    ) -> tuple[int, int, int, float]:
        # the given name: one or two characters after the surname, up to a non-CJK or stop character
        g0 = text[b : b + 1]
        if not g0 or not "\u4e00" <= g0 <= "\u9fff" or g0 in STOP:
            return (a, a, 0, 0.0)
        g1 = text[b + 1 : b + 2]
        two = bool(g1) and "\u4e00" <= g1 <= "\u9fff" and g1 not in STOP
        lex = lexicon()
        cs, d = lex.char_score, lex.default_score
        pre = self._pre_level(text, a)
        level, s = 0, 0.0
        for n in (2, 1) if two else (1,):
            if n == 2:
                s1 = cs.get(g1, d)
                if s1 < self.cue_threshold or _starts_with(text[b + 1 : b + 4], _NEXT_WORD_SET, _NEXT_WORD_LENS):
                    continue  # the second character is unlikely in a name or starts the next word: 张伟开具
                s = (cs.get(g0, d) + s1) / 2  # self.score(g0 + g1)
            else:
                s = cs.get(g0, d)
            post = self._post_level(text, b + n)
            level = 2 if 2 in (pre, post) else 1 if pre and post else 0
            threshold = (self.cue_threshold, self.clause_threshold, self.bare_threshold)[2 - level]
            if s >= threshold and (ok is None or ok(b + n)):
                return (a, b + n, level, s)
        return (a, a, level, s)

    # --- pinyin -----------------------------------------------------------------------------

    # Runs of capitalised words that can hold a name: two words or more, or one of four letters or more
    # (ZHANGSAN). Shorter runs (CT, Ki, PD) never hold one; leaving them out of the pattern finds the same
    # names, since a run too short to hold a name has no part that could.
    _LATIN = re.compile(r"[A-Z][A-Za-z]*(?:[ \-^][A-Z][A-Za-z]*)+|[A-Z][A-Za-z]{3,}")

    def find_pinyin(self, text: str) -> list[tuple[int, int]]:
        """Spans of pinyin names: ``ZHANG San``, ``Zhang-San``, ``ZHANGSAN``, ``San Zhang``, ``Zhang Sanfeng``."""
        out: list[tuple[int, int]] = []
        n = len(text)
        for m in self._LATIN.finditer(text):
            a, b = m.span()
            if (a and text[a - 1] in _ASCII_ALNUM) or (b < n and text[b] in _ASCII_ALNUM):
                continue  # part of a longer word (xZhang, CK7)
            names = _pinyin_names(m.group())
            if names:
                out += [(a + s, a + e) for s, e in names]
        return out


def _syllables_ok(token: str, max_count: int = 2) -> bool:
    if not (token.isupper() or token.istitle() or (token[0].isupper() and token[1:].islower())):
        return False
    return _py.split_syllables(token, max_count=max_count) is not None


@lru_cache(maxsize=65536)
def _pinyin_names(group: str) -> tuple[tuple[int, int], ...]:
    """Offsets of the names within a run of capitalised words."""
    surnames = _pinyin_surnames()
    tokens = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[A-Za-z]+", group)]
    ok = [_syllables_ok(w) for _, _, w in tokens]
    low = [w.lower() for _, _, w in tokens]
    nsyl = [len(_py.split_syllables(w) or ()) for w in low]
    found: list[tuple[int, int]] = []  # names as ranges of tokens
    i = 0
    while i < len(tokens):
        if i + 1 < len(tokens) and ok[i] and ok[i + 1]:
            if low[i] in surnames:
                # Zhang San Feng: a third one-syllable word continues a one-syllable given name
                if i + 2 < len(tokens) and ok[i + 2] and nsyl[i + 1] == 1 and nsyl[i + 2] == 1:
                    found.append((i, i + 3))
                    i += 3
                    continue
                found.append((i, i + 2))
                i += 2
                continue
            if low[i + 1] in surnames:
                found.append((i, i + 2))
                i += 2
                continue
        # one word: ZHANGSANFENG / Zhangsan (a surname then one or two syllables)
        w = tokens[i][2]
        if (len(w) >= 5 and w.istitle()) or (len(w) >= 4 and w.isupper()):
            sy = _py.split_syllables(w.lower(), max_count=4)
            # CHANGE is chang + e: a bare vowel syllable is not taken as part of a joined name
            if (
                sy
                and len(sy) >= 2
                and not any(x in ("a", "e", "o") for x in sy)
                and any(len(sy) > n and "".join(sy[:n]) in surnames and len(sy) - n <= 2 for n in (2, 1))
            ):
                found.append((i, i + 1))
        i += 1
    return tuple(
        (tokens[i][0], tokens[j - 1][1]) for i, j in found if not _names_no_person([w for _, _, w in tokens], low, i, j)
    )


def _names_no_person(words: list[str], low: list[str], i: int, j: int) -> bool:
    """Whether the pinyin name ``words[i:j]`` of a run of capitalised words is a place or a company's
    (:func:`curation.deid.pinyin.not_names`): SHANGHAI, Kang Da, SHEN ZHEN ANKE, WANDONG MEDICAL."""
    nn = _py.not_names()
    joined = "".join(low[i:j])
    if joined in nn.brands or (j == i + 1 and joined in nn.places):
        return True
    # an all-capitals name followed in its run by a company word or a brand is part of a company's name
    return all(w.isupper() for w in words[i:j]) and any(x in nn.company_words or x in nn.brands for x in low[j:])


@cache
def _pinyin_surnames() -> frozenset[str]:
    # readings without a consonant (a, e, an, ai, ou) are English words far more often than surnames
    return frozenset(s for s in _py.pinyin_surnames() if len(s) >= 2 and s[0] not in "aeo")
