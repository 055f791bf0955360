"""The name detector's lexicon, from jieba's shipped dictionary: the surname and word automaton, what
each match can start, and the given-name character model.

Private to :mod:`curation.deid.names`, which re-exports :func:`lexicon`.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from . import pinyin as _py
from ._name_tables import _NOT_NAME_TAGS, _PRE_CUE_LAST, _SEP, _SINGLE

# What a lexicon match can start (``_Lexicon.kinds``): nothing (the word only masks), a surname, a word
# that may straddle a cue and a surname (其女王华 read as 女王), a word tagged as a name (王亮), an
# ordinary word starting with a surname character that is a name only after a person word (患者于洋) or
# before a title (王国强女士), or a two-character verb or number word that is a name only before a title
# (jieba tags 高欢 and 付强 as verbs, 许成 as a number: 高欢女士).
_MASK, _SURNAME, _STRADDLE, _NAME_WORD, _CUED_WORD, _VERB_WORD = range(6)
# An ordinary word this frequent in jieba's dictionary is a name on its own only before a title (患者常规复查,
# 家属全程陪同 are no names; 患者于洋 is)
_COMMON_WORD = 200


@dataclass(frozen=True)
class _Lexicon:
    automaton: Any
    surname_end: int  # patterns [0, surname_end) are surnames, the rest dictionary words
    tags: tuple[str, ...]  # part of speech of each pattern ("" for surnames)
    useful: bytes  # 1 where a match of the pattern can start a candidate; the rest only mask
    char_score: dict[str, float]
    default_score: float
    kinds: bytes  # what a match of each pattern can start (_MASK, _SURNAME, _STRADDLE, ...)
    common: bytes  # 1 for an ordinary word too frequent to be a name on its own (_COMMON_WORD)
    words: frozenset[str]  # dictionary words of 2-4 characters used at least _WORD_MIN_FREQ times (inside_words)


def _jieba_dict() -> Path:
    import importlib.util

    # the shipped dictionary is read directly: importing jieba itself is not needed
    spec = importlib.util.find_spec("jieba")
    if spec is None or spec.origin is None:
        msg = "jieba is not installed (the person-name detector reads its dictionary): pip install jieba"
        raise ImportError(msg)
    logging.getLogger("jieba").setLevel(logging.CRITICAL)
    return Path(spec.origin).with_name("dict.txt")


def _dictionary_entries() -> tuple[list[str], list[str], list[str]]:
    """Words, frequencies and tags of jieba's dictionary, one entry a line (lines not of three fields skipped)."""
    text = _jieba_dict().read_text(encoding="utf-8")
    # one split of the whole file when every line has its three fields (it has): 5x faster than line by line
    if re.fullmatch(r"(?:\S+ \S+ \S+\n)*(?:\S+ \S+ \S+)?", text):
        tokens = text.split()
        return tokens[0::3], tokens[1::3], tokens[2::3]
    entries = [parts for parts in map(str.split, text.split("\n")) if len(parts) == 3]
    return [e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries]


# Dictionary entries rarer than this (archaic words, rare place names) do not make a word for inside_words
_WORD_MIN_FREQ = 10


def _sorted_unique(values: Any) -> Any:
    import numpy as np

    v = np.sort(values)
    return v[np.concatenate(([True], v[1:] != v[:-1]))] if len(v) else v


@cache
def lexicon() -> _Lexicon:
    """Surname automaton and given-name character model, from jieba's shipped dictionary (built once).

    The character counts over the dictionary's 350,000 words are taken with numpy (a per-word Python
    loop took most of the scrubber's start-up); the sums are added in the order a loop over the file
    adds them, so the scores are the same to the last bit.
    """
    import ahocorasick_rs
    import numpy as np

    surnames = [*_py.COMPOUND_SURNAMES, *dict.fromkeys(_py.SURNAMES)]
    single = set(_py.SURNAMES)
    compound = set(_py.COMPOUND_SURNAMES)
    words, freqs, tags = _dictionary_entries()
    n = len(words)
    lens = np.fromiter(map(len, words), dtype=np.int64, count=n)
    # a three- or four-character person's name (tag nr) feeds the given-name model and never masks
    person = np.fromiter((t == "nr" for t in tags), dtype=bool, count=n) & ((lens == 3) | (lens == 4))
    in_names: Counter[str] = Counter()
    for i in np.flatnonzero(person):
        w = words[i]
        sn = w[:2] if w[:2] in compound else w[:1]
        if sn[0] in single or sn in compound:
            in_names.update(w[len(sn) :])
    codes = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    owner = np.repeat(np.arange(n), lens)
    # running-text weight of each character: log(1 + frequency) of every ordinary word it occurs in (once
    # per word), so frequent words count more, damped so function words do not swamp. math.log1p, not
    # numpy's: they differ in the last bit for some values
    plain = np.fromiter((not t.startswith("nr") for t in tags), dtype=bool, count=n)
    weight = np.zeros(n)
    idx = np.flatnonzero(plain)
    weight[idx] = [math.log1p(int(freqs[i])) for i in idx]
    sel = plain[owner]
    pair = _sorted_unique((owner[sel].astype(np.int64) << 21) | codes[sel])  # (word, character) once each
    ch_of, word_of = (pair & 0x1FFFFF), pair >> 21
    dense = np.full(0x110000, -1, dtype=np.int64)
    uniq = _sorted_unique(ch_of)
    dense[uniq] = np.arange(len(uniq))
    sums = np.zeros(len(uniq))
    np.add.at(sums, dense[ch_of], weight[word_of])  # per character in word (file) order, as a loop adds
    # the total in order of each character's first occurrence, as summing a dict of counts does
    first = np.full(len(uniq), n * 8, dtype=np.int64)
    np.minimum.at(first, dense[codes[sel]], np.arange(int(sel.sum())))
    in_words = {chr(int(uniq[i])): float(sums[i]) for i in np.argsort(first, kind="stable")}
    n_names, n_words = sum(in_names.values()), sum(in_words.values())
    scores = {}
    for ch in set(in_names) | set(in_words):
        scores[ch] = math.log((in_names[ch] + 0.5) / n_names) - math.log((in_words.get(ch, 0.0) + 5.0) / n_words)
    default = math.log(0.5 / n_names) - math.log(5.0 / n_words)
    # words with a surname character mask the surname inside them (高分化, 白细胞, 检查)
    is_surname = np.zeros(0x110000, dtype=bool)
    is_surname[[ord(c) for c in single]] = True
    has_surname = np.bincount(owner, weights=is_surname[codes], minlength=n) > 0
    keep = has_surname & (lens >= 2) & (lens <= 6) & ~person
    surname_set = set(surnames)
    lexicon_words = {words[i]: (tags[i], freqs[i]) for i in np.flatnonzero(keep) if words[i] not in surname_set}
    patterns = surnames + list(lexicon_words)
    ac = ahocorasick_rs.AhoCorasick(patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
    all_tags = ("",) * len(surnames) + tuple(t for t, _ in lexicon_words.values())
    kinds = bytes(
        _pattern_kind(i < len(surnames), p, t) for i, (p, t) in enumerate(zip(patterns, all_tags, strict=True))
    )
    useful = bytes(k != _MASK for k in kinds)
    common = bytes(len(surnames)) + bytes(int(f) >= _COMMON_WORD for _, f in lexicon_words.values())
    short = np.flatnonzero((lens >= 2) & (lens <= 4))
    frequent = np.fromiter((int(freqs[i]) >= _WORD_MIN_FREQ for i in short), dtype=bool, count=len(short))
    dictionary = frozenset(words[i] for i in short[frequent])
    return _Lexicon(ac, len(surnames), all_tags, useful, scores, default, kinds, common, dictionary)


def _pattern_kind(is_surname: bool, word: str, tag: str) -> int:
    if is_surname:
        return _SURNAME
    if word[0] not in _SINGLE:
        # it straddles only when a person word ends with its first character (其女 + 王): otherwise the
        # text before its surname cannot end with one
        straddles = word[0] in _PRE_CUE_LAST or word[0] in _SEP
        return _STRADDLE if len(word) == 2 and word[1] in _SINGLE and straddles else _MASK
    if tag.startswith("nr"):
        return _NAME_WORD
    if tag[:1] in ("v", "m") and len(word) == 2:
        return _VERB_WORD  # 主任查房, 余三 (the remaining three): a name only before a title (高欢女士)
    # an adverb, preposition ... starting with a surname character never starts a name
    return _MASK if tag[:1] in _NOT_NAME_TAGS else _CUED_WORD
