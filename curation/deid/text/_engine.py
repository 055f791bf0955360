"""The scrubber: registry automaton, detectors and name detector over many sentences at once, with a cache."""

from __future__ import annotations

import gc
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import accumulate, chain
from operator import itemgetter
from typing import Any

import pandas as pd

from ..registry import IdentifierRegistry, Kind
from ._common import _FULL_WIDTH, _WORD_CHARS, Finding, _bounded, _lower, _norm, token
from ._detectors import _ADDR_HINT, _address_chain, _addresses, _detect, _within_sentences, compile_mrn_patterns
from ._known import Known, _pattern_forms
from ._workers import _can_fork, _scrub_forked

_PRIORITY = {
    Kind.id_card: 9,
    Kind.phone: 8,
    Kind.email: 8,
    Kind.birth_date: 7,
    Kind.date: 6,
    Kind.address: 5,
    Kind.name: 4,
    Kind.staff_name: 4,
    Kind.other: 0,
}

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

    def __init__(
        self,
        registry: IdentifierRegistry | None = None,
        *,
        mrn_patterns: Sequence[str] = (),
        names: bool = True,
        cache_chars: int = 4_000_000,
    ) -> None:
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
        self._ac_pair = b""  # 1 for a two-character CJK form (see names.inside_words)
        self._sentence_local = True  # no registry form holds 。
        self._cache: dict[str, _Entry] = {}
        self._scrubbed: dict[str, str] = {}  # sentence -> sentence scrubbed (the cache's third field)
        # cached sentence -> the names the detector found in it (as written), for the sentences with any
        self._named: dict[str, tuple[str, ...]] = {}
        self._uncacheable: list[str] = []  # sentences of the call too long to keep (dropped after it)
        self._cached_chars = 0
        if registry:
            self._build(registry)
        self._detector: Any = None
        if names:
            from ..names import NameDetector, lexicon

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
        pair = bytearray(len(pats))
        for i, n in enumerate(map(len, pats)):
            if n == 2 and _CJK_PAIR.fullmatch(pats[i]):
                pair[i] = 1
        self._ac_pair = bytes(pair)
        if any(pair):
            from ..names import dictionary_words

            dictionary_words()  # read now, not inside the first scrub
        self._sentence_local = not any(_SENTENCE in p for p in pats)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "mrn_patterns": self.mrn_patterns,
            "names": self.names,
            "cache_chars": self.cache_chars,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["registry"],
            mrn_patterns=state["mrn_patterns"],
            names=state["names"],
            cache_chars=state.get("cache_chars", 4_000_000),
        )

    def clear_cache(self) -> None:
        """Forget the sentences scrubbed so far (their memory; a benchmark's cold start)."""
        self._forget_sentences()
        if self._detector is not None:
            self._detector.clear_memo()

    def _forget_sentences(self) -> None:
        self._cache.clear()
        self._scrubbed.clear()
        self._named.clear()
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
            named, named_in = self._named.__getitem__, self._named.keys().__and__
            join = _SENTENCE.join
            joinable = known is None and not self._mrn_text and self._sentence_local
            out = []
            for t, sentences in zip(texts, split, strict=True):
                if joinable and not _address_chain(t) and not (odd and _GROWS_WHEN_LOWERED in t):
                    # no span reaches across 。 and the text adds none of its own: each sentence is scrubbed
                    # apart, so the text is its scrubbed sentences joined, unless a name found in one of them
                    # is still in it (a repeated mention, which only the whole text shows)
                    r = scrubbed(t) if len(sentences) == 1 else join(map(scrubbed, sentences))
                    with_names = named_in(sentences) if self._named else None
                    if not with_names or not _names_left(r, map(named, with_names)):
                        out.append(r)
                        continue
                spans = self._assemble(t, sentences, odd if _GROWS_WHEN_LOWERED in t else self._cache, known)
                out.append(_replace(t, spans) if spans else t)
            self._keep_cache_small()
            return out

    def _spans_many(self, texts: Sequence[str], known: Known | None) -> list[list[_Coded]]:
        """Merged spans of each (non-empty) text."""
        with _collector_paused():
            split = [t.split(_SENTENCE) for t in texts]
            odd = self._prepare(texts, split)
            out = [
                self._assemble(t, sentences, odd if _GROWS_WHEN_LOWERED in t else self._cache, known)
                for t, sentences in zip(texts, split, strict=True)
            ]
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
                self._named.pop(x, None)
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
            spans += [
                (a, a - b, p_mrn, 4, b, mrn)
                for a, b in (m.span() for m in pat.finditer(buf))
                if b > a and _bounded(buf, a, b)
            ]
        if self._detector is not None:
            name, p_name = _CODE[Kind.name], -_PRIORITY[Kind.name]
            found = self._detector.find(buf)
            spans += [(a, a - b, p_name, 5, b, name) for a, b in found]
            if _HAS_UPPER.search(buf):
                pinyin = self._detector.find_pinyin(buf)
                spans += [(a, a - b, p_name, 6, b, name) for a, b in pinyin]
                found += pinyin
            if found and not chars:  # (texts lowered character by character are never cached nor joined)
                self._remember_names(keys, starts, raw, found)
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

    def _remember_names(self, keys: list[str], starts: list[int], raw: str, found: list[tuple[int, int]]) -> None:
        """Note the names the detector found in each sentence (as written), for the repeated mentions
        (:meth:`_scrub_texts`)."""
        by: dict[int, list[str]] = {}
        for a, b in found:
            by.setdefault(bisect_right(starts, a) - 1, []).append(raw[a:b])
        self._named.update((keys[i], tuple(v)) for i, v in by.items())

    def _registry_spans(self, low: str) -> list[Span]:
        from ..names import inside_words

        heads, tails, kinds, pairs = self._ac_head, self._ac_tail, self._ac_kinds, self._ac_pair
        out = []
        n = len(low)
        for pi, a, b in self._ac.find_matches_as_indexes(low, overlapping=True):
            if (heads[pi] and a > 0 and low[a - 1] in _WORD_CHARS) or (tails[pi] and b < n and low[b] in _WORD_CHARS):
                continue
            # a two-character Chinese name inside ordinary words (常强 in 异常强化) is no mention of the person
            if pairs[pi] and inside_words(low, a, b):
                continue
            out.append((a, b, kinds[pi]))
        return out

    def _assemble(
        self, text: str, sentences: list[str], entries: dict[str, _Entry], known: Known | None
    ) -> list[_Coded]:
        """A text's merged spans: its sentences' (shifted to the text), then its own (MRN shapes, the
        record's identifiers, addresses), then every other mention of a name the detector found in it."""
        spans: list[_Sortable] = []
        whole = bool(self._mrn_text) or bool(known) or not self._sentence_local or _ADDR_HINT.search(text) is not None
        off = 0
        for x in sentences:
            e = entries[x]
            if e[1] is not None:
                found, lo, hi, s0 = e[1]
                d = off - s0
                it = iter(found[lo:hi])
                spans += [(a + d, n, p, r, b + d, k) for a, n, p, r, b, k in zip(it, it, it, it, it, it, strict=True)]
            off += len(x) + 1
        named = [(s[0], s[4]) for s in spans if s[3] >= _RANK_NAMES]
        if not whole:
            if named:
                return _with_repeats(text, _merge_sorted(spans), named)
            return _merge_sorted(spans) if spans else []
        folded = _SENTENCE.join([entries[x][0] for x in sentences])
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
        return _with_repeats(text, _merge_sorted(spans), named) if named else _merge_sorted(spans)


def _names_left(scrubbed: str, found: Iterable[tuple[str, ...]]) -> bool:
    """Whether a scrubbed text still holds one of the names found in its sentences."""
    return any(map(scrubbed.__contains__, chain.from_iterable(found)))


@lru_cache(maxsize=4096)
def _names_pattern(names: frozenset[str]) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, sorted(names, key=lambda n: (-len(n), n)))))


def _with_repeats(text: str, spans: list[_Coded], named: list[tuple[int, int]]) -> list[_Coded]:
    """``spans`` (merged) and every mention, outside them, of a name the detector found in the text.

    The detector judges each mention by its context, so a name it found after a cue (其子仇美珍陪同) can
    stand elsewhere where nothing vouches for it (另见仇美珍来电): the text has named that person, so each
    mention of the same string goes. Latin names only as whole words; leftmost-longest, in the gaps between
    the spans. (As written, not folded: the pinyin detector finds Latin names wherever they stand anyway.)
    """
    pat = _names_pattern(frozenset(text[a:b] for a, b in named))
    code = _CODE[Kind.name]
    extra: list[_Coded] = []
    lo = 0
    for a, b, _ in [*spans, (len(text), len(text), 0)]:
        if a > lo:
            extra += [(m.start(), m.end(), code) for m in pat.finditer(text, lo, a) if _bounded(text, *m.span())]
        lo = b
    return sorted(spans + extra) if extra else spans


def _first_at(spans: Sequence[_Sortable], starts: list[int]) -> list[int]:
    """For each of ``starts`` (ascending), the index of the first of ``spans`` (sorted) starting there or later."""
    if not spans:
        return [0] * len(starts)
    import numpy as np

    return np.searchsorted(
        np.fromiter((s[0] for s in spans), dtype=np.int64, count=len(spans)),
        np.asarray(starts, dtype=np.int64),
        side="left",
    ).tolist()


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


_HAS_UPPER = re.compile("[A-Z]")
_CJK_PAIR = re.compile("[\u4e00-\u9fff]{2}")
_RANK_NAMES = 5  # the rank (see _Sortable) of the name detector's spans: 5 Chinese, 6 pinyin
