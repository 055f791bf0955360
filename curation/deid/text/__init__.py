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
(c) person names no registry knows (:mod:`curation.deid.names`), Chinese and pinyin, and every other
    mention in the same text of a name found there (其子仇美珍陪同 … 另见仇美珍来电).

A two-character Chinese name of the registry is not removed where it straddles two ordinary words
(常强 in 异常|强化) unless a person word stands beside it (:func:`curation.deid.names.inside_words`).

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

The parts: :mod:`._engine` (:class:`Scrubber`: batching, the sentence cache, merging spans),
:mod:`._workers` (forked workers), :mod:`._detectors` (the pattern detectors), :mod:`._known`
(a record's own identifiers), :mod:`._simple` (the earlier interface), :mod:`._measure` (recall and
precision on labelled texts).
"""

from ._common import DEFAULT_TOKEN, REDACTED, TOKENS, Finding, token
from ._detectors import _within_sentences as _within_sentences  # the tests prove MRN shapes with it
from ._detectors import compile_mrn_patterns, valid_id_card
from ._engine import Scrubber
from ._known import Known
from ._measure import evaluate, measure_recall
from ._simple import _default as _default  # curation.deid.dicom scrubs with it
from ._simple import scrub, scrub_series
from ._workers import _can_fork as _can_fork  # the tests ask whether workers can fork

__all__ = [
    "DEFAULT_TOKEN",
    "REDACTED",
    "TOKENS",
    "Finding",
    "Known",
    "Scrubber",
    "compile_mrn_patterns",
    "evaluate",
    "measure_recall",
    "scrub",
    "scrub_series",
    "token",
    "valid_id_card",
]
