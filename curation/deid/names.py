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

import logging
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from . import pinyin as _py

__all__ = ["NameDetector", "dictionary_words", "inside_words"]

# Words before a name that say a person follows (the colon and spaces between are skipped).
PRE_CUES = (
    "患者", "病人", "病员", "患儿", "伤者", "家属", "亲属", "陪护", "陪同人", "联系人", "监护人", "代理人", "委托人",
    "授权人", "之子", "之女", "之父", "之母", "之妻", "之夫", "其子", "其女", "其父", "其母", "其妻", "其夫", "其兄",
    "其姐", "其弟", "其妹", "儿子", "女儿", "父亲", "母亲", "丈夫", "妻子", "配偶", "爱人", "哥哥", "姐姐", "弟弟",
    "妹妹", "孙子", "孙女", "女婿", "儿媳", "医师", "医生", "大夫", "主任", "主治", "教授", "护士", "护师",
    "技师", "药师",
    "审核", "复核", "审签", "签发", "报告人", "报告者", "记录者", "记录人", "记录", "书写者", "签名", "签字", "主刀",
    "术者", "助手", "一助", "二助", "麻醉", "操作者", "操作员", "检查者", "录入者", "录入", "送检", "取材", "诊断",
    "会诊", "姓名", "病友", "同室", "邻床", "转告", "告知", "通知", "联系", "由", "经", "请", "据", "交由", "嘱",
    "先生", "女士", "老师", "接听人", "采集人", "送检人", "签字人", "经办人", "见证人", "申请人", "填表人", "核对人",
    "执行人", "审核人", "同病房的", "同室的", "邻床的", "病房的", "我院", "外院", "本院", "科", "发现", "诊治", "看望",
    "探视", "安慰", "协助", "询问", "接诊", "收治", "护送", "委托",
)
# Function words before a name that make a clause boundary (因王鹏拒绝手术, 与李华同住).
PRE_FUNC = set("因由与和及经请让给被对向把将嘱令叫是为的、")
# Words after a name that say it was one.
POST_CUES = (
    "先生", "女士", "小姐", "医师", "医生", "大夫", "主任", "教授", "护士", "护师", "技师", "老师", "同志", "师傅",
    "之子", "之女", "之妻", "之夫", "之父", "之母", "签字", "签名", "代签", "本人", "家属", "患者", "阿姨", "爷爷",
    "奶奶", "老人", "女儿", "儿子", "父亲", "母亲", "丈夫", "妻子", "同意", "陪同", "拒绝", "要求", "表示", "诉",
    "述", "称", "自述", "主诉", "代述", "代诉", "已", "于", "因", "，男", "，女", ",男", ",女", "(男", "(女", "（男",
    "（女", "男，", "女，", "男,", "女,", "(患者", "（患者", "(家属", "（家属", "(配偶", "（配偶",
)
# Words after a name that vouch for it even when the name starts as an ordinary word (王国强女士, 周五先生,
# 高欢，女): address, kinship, speaking or signing for somebody, sex after a comma. Titles of staff are not
# among them: they follow role words too (门诊医师, 管床医生, 高中老师).
WORD_POST_CUES = (
    "先生", "女士", "小姐", "同志", "之子", "之女", "之妻", "之夫", "之父", "之母", "代述", "代诉", "代签", "，男",
    "，女", ",男", ",女", "(男", "(女", "（男", "（女",
)
# ... and these only after a three-character name: a word alone before them is often no person (全程陪同)
WORD3_POST_CUES = ("签字", "签名", "陪同")
# Characters that end a name where they stand (function words, verbs of clinical narrative).
STOP = set(
    "的了是在和与及或于为等示见行后前例性侧叶肺癌部区段级期型度个次年月日天周时分岁男女之其所被把将从到向对给"
    "也都均同共并又再已曾今昨诉述称说讲告签病入出住死医主先护术患院科室床号楼诊治疗查验检测血尿便痛咳热"
    "无有未不非否可能应需要请由经因据以及而但且若如则即就还仍更最很较约近余多上下左右内外低短氏"
    "省市县镇乡村路街巷弄栋座层"
)
# Verbs of clinical narrative that follow a name (王建平耐受可, 李静记录, 贾磊下床活动).
POST_VERBS = (
    "报告", "记录", "书写", "审阅", "审核", "复核", "签发", "耐受", "开具", "下床", "出院", "入院", "住院",
    "换药", "参加",
    "陪同", "来院", "就诊", "复查", "随访", "昨", "今", "目前", "近来", "拒绝", "要求", "表示", "同意", "接受", "咨询",
    "反映", "告知", "知晓", "领取", "负责", "主持", "执行", "操作", "采集", "确认", "查房", "会诊", "手术", "治疗",
    "认为", "建议", "配合", "查看", "作为", "发现", "自诉", "主诉", "协助", "询问", "解释", "指出", "提出", "考虑",
    "决定", "签署", "完成", "陪护", "看护", "照顾", "携带", "因", "经", "于", "在", "和", "与",
)
# Parts of speech of words that never start a name, even after a person word (主任查房).
_NOT_NAME_TAGS = set("vdpcufmqr")
_SINGLE = frozenset(_py.SURNAMES)
_CUE_WORDS = PRE_CUES + POST_CUES  # 患儿母亲王芳: 母亲 is a cue, not a name starting with the surname 母
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SEP = " \t:："


def _affixes(words: tuple[str, ...]) -> tuple[frozenset[str], tuple[int, ...]]:
    return frozenset(words), tuple(sorted({len(w) for w in words}))


# ``s.endswith(words)`` / ``s.startswith(words)`` as a few set lookups (the tuples hold over a hundred words)
_PRE_CUE_SET, _PRE_CUE_LENS = _affixes(PRE_CUES)
_POST_CUE_SET, _POST_CUE_LENS = _affixes(POST_CUES)
_POST_VERB_SET, _POST_VERB_LENS = _affixes(POST_VERBS)
_NEXT_WORD_SET, _NEXT_WORD_LENS = _affixes(POST_VERBS + POST_CUES)
# a one-character cue word (于, 因) is also a surname (于洋): only longer cue words are never names
_CUE_WORD_SET, _CUE_WORD_LENS = _affixes(tuple(w for w in _CUE_WORDS if len(w) > 1))
_WORD_POST_SET, _WORD_POST_LENS = _affixes(WORD_POST_CUES)
_WORD3_POST_SET, _WORD3_POST_LENS = _affixes(WORD_POST_CUES + WORD3_POST_CUES)
_PRE_CUE_LAST = frozenset(c[-1] for c in PRE_CUES)
_ASCII_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
assert max(_CUE_WORD_LENS) <= 4  # the judgement memo's window and _decide read 4 characters of a cue word


def _ends_with(s: str, words: frozenset[str], lengths: tuple[int, ...]) -> bool:
    # s[-n:] shorter than n is s itself, which ends with itself: still a correct answer
    for n in lengths:  # noqa: SIM110 - the name detector's hot path: a loop beats any() over a generator
        if s[-n:] in words:
            return True
    return False


def _starts_with(s: str, words: frozenset[str], lengths: tuple[int, ...]) -> bool:
    for n in lengths:  # noqa: SIM110 - the name detector's hot path: a loop beats any() over a generator
        if s[:n] in words:
            return True
    return False


# What a lexicon match can start (``_Lexicon.kinds``): nothing (the word only masks), a surname, a word
# that may straddle a cue and a surname (其女王华 read as 女王), a word tagged as a name (王亮), an
# ordinary word starting with a surname character that is a name only after a person word (患者于洋) or
# before a title (王国强女士), or a two-character verb or number word that is a name only before a title
# (jieba tags 高欢 and 付强 as verbs, 许成 as a number: 高欢女士).
_MASK, _SURNAME, _STRADDLE, _NAME_WORD, _CUED_WORD, _VERB_WORD = range(6)
# An ordinary word this frequent in jieba's dictionary is a name on its own only before a title (患者常规复查,
# 家属全程陪同 are no names; 患者于洋 is)
_COMMON_WORD = 200
# A candidate's judgement reads at most 8 characters before its start (``_pre_level``) and 7 after it
# (surname, two given characters, a three-character cue); cue words are at most 4 characters long.
_BEFORE = 8
_AFTER = 8
_MEMO_MAX = 200_000


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


def dictionary_words() -> frozenset[str]:
    """jieba's dictionary words of two to four characters used at least :data:`_WORD_MIN_FREQ` times
    (about 94,000; read with the lexicon, once)."""
    return lexicon().words


def inside_words(text: str, a: int, b: int) -> bool:
    """Whether the two characters ``text[a:b]`` straddle two ordinary words and no person word is beside them.

    The characters before and the first form a dictionary word, and the last and the characters after form
    one (常强 in 异常|强化), so the two are no name there; a person word before or after them (患者常强,
    常强先生) makes them one anyway. A registry holding a two-character name reads this before removing it.
    """
    words = dictionary_words()
    if not any(text[a - k:a + 1] in words for k in (1, 2, 3) if a >= k):
        return False
    if not any(text[b - 1:b + k] in words for k in (1, 2, 3) if b + k <= len(text)):
        return False
    return NameDetector._pre_level(text, a) < 2 and NameDetector._post_level(text, b) < 2


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
            in_names.update(w[len(sn):])
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
    kinds = bytes(_pattern_kind(i < len(surnames), p, t)
                  for i, (p, t) in enumerate(zip(patterns, all_tags, strict=True)))
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

    def __init__(self, *, cue_threshold: float = -1.95, clause_threshold: float = -0.9,
                 bare_threshold: float = 2.0) -> None:
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
                ch = text[nxt:nxt + 1]
                if not ch or not "\u4e00" <= ch <= "\u9fff" or ch in STOP:
                    out.append((a, a, 0, 0.0))
                    continue
            elif kind == _VERB_WORD and not (text[b:b + 2] in _WORD_POST_SET or text[b + 1:b + 3] in _WORD3_POST_SET):
                continue  # no title after it (most verbs): only a masking word, decided without a look-up
            lo = a - _BEFORE if a > _BEFORE else 0
            key = (pi, text[lo:a + _AFTER], a - lo)
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

    def _decide(self, text: str, kind: int, a: int, b: int, *, common: bool = False
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
            titled = text[a + 2:a + 4] in _WORD_POST_SET or text[a + 3:a + 5] in _WORD3_POST_SET
            if not titled and (kind == _VERB_WORD or self._pre_level(text, a) < 2):
                return ()  # nothing can vouch for it (most ordinary words): decided without judging
            if _starts_with(text[a:a + 4], _CUE_WORD_SET, _CUE_WORD_LENS):
                return ()
            c = self._judge(text, a, a + 1, ok=lambda end: self._word_vouched(text, kind, a, end, common))
            return (c[0] - a0, c[1] - a0, c[2], c[3]) if c[1] > c[0] else ()
        else:
            if kind == _SURNAME and text[a] in PRE_FUNC and text[a + 1:a + 2] in _SINGLE:
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
        after = text[b:b + 2]
        if after in _WORD_POST_SET or (b - a >= 3 and after in _WORD3_POST_SET):
            return True
        if kind == _VERB_WORD or self._pre_level(text, a) < 2:
            return False
        if common and b - a == 2:
            # a frequent word names a person after a person word only where nothing follows it in the
            # clause (原主治医师江东，), not before a verb (患者常规复查, 家属全程陪同)
            nxt = text[b:b + 1]
            return not nxt or not "\u4e00" <= nxt <= "\u9fff"
        return self._post_level(text, b) >= 1

    @staticmethod
    def _pre_level(text: str, a: int) -> int:
        before = text[max(0, a - 8):a].rstrip(_SEP)
        if _ends_with(before, _PRE_CUE_SET, _PRE_CUE_LENS):
            return 2
        if not before or not "\u4e00" <= before[-1] <= "\u9fff" or before[-1] in PRE_FUNC:
            return 1
        return 1 if a > len(before) and text[a - 1] in _SEP else 0

    @staticmethod
    def _post_level(text: str, end: int) -> int:
        after = text[end:end + 3]
        if _starts_with(after, _POST_CUE_SET, _POST_CUE_LENS):
            return 2
        return 1 if (not after or not "\u4e00" <= after[0] <= "\u9fff" or after[0] in STOP
                     or _starts_with(after, _POST_VERB_SET, _POST_VERB_LENS)) else 0

    def _judge(self, text: str, a: int, b: int, *, ok: Callable[[int], bool] | None = None
               ) -> tuple[int, int, int, float]:
        # the given name: one or two characters after the surname, up to a non-CJK or stop character
        g0 = text[b:b + 1]
        if not g0 or not "\u4e00" <= g0 <= "\u9fff" or g0 in STOP:
            return (a, a, 0, 0.0)
        g1 = text[b + 1:b + 2]
        two = bool(g1) and "\u4e00" <= g1 <= "\u9fff" and g1 not in STOP
        lex = lexicon()
        cs, d = lex.char_score, lex.default_score
        pre = self._pre_level(text, a)
        level, s = 0, 0.0
        for n in (2, 1) if two else (1,):
            if n == 2:
                s1 = cs.get(g1, d)
                if s1 < self.cue_threshold or _starts_with(text[b + 1:b + 4], _NEXT_WORD_SET, _NEXT_WORD_LENS):
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
            if sy and len(sy) >= 2 and not any(x in ("a", "e", "o") for x in sy) and any(
                    len(sy) > n and "".join(sy[:n]) in surnames and len(sy) - n <= 2 for n in (2, 1)):
                found.append((i, i + 1))
        i += 1
    return tuple((tokens[i][0], tokens[j - 1][1]) for i, j in found
                 if not _names_no_person([w for _, _, w in tokens], low, i, j))


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
