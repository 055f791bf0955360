"""The cohort-wide identifier registry: every raw identifier seen while loading, in every form a text could hold.

Free text names other patients, relatives and doctors, not only the row's own patient, so text is
scrubbed with the identifiers of the whole cohort (:class:`curation.deid.text.Scrubber`) and the
end-of-run leak scan searches the bundle for all of them (:meth:`IdentifierRegistry.scan_values`).

The registry lives in memory only. It pickles (it is sent to worker processes) but is never
written: run.json gets its sizes per kind and a keyed fingerprint, never a value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

import pyarrow as pa

from . import _idforms as _f
from . import pinyin as _py
from ._idforms import has_content as _has_content
from ._idforms import text as _text

if TYPE_CHECKING:
    from .keys import Keyring

__all__ = ["IdentifierRegistry", "Kind"]


class Kind(StrEnum):
    """What an identifier is; decides its replacement token in text."""

    name = "name"  # patients and their relatives
    staff_name = "staff_name"  # physicians, operators, report authors and signers
    mrn = "mrn"
    admission_number = "admission_number"
    id_card = "id_card"
    phone = "phone"
    address = "address"
    birth_date = "birth_date"
    accession = "accession"
    other_patient_id = "other_patient_id"
    specimen_id = "specimen_id"
    sample_id = "sample_id"
    file_name = "file_name"
    email = "email"
    other = "other"
    date = "date"  # a date found in text by the detectors (birth dates are ``birth_date``)


NAME_KINDS = frozenset({Kind.name, Kind.staff_name})
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff·•．.]+")
_LATIN_RUN = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'\-\s^,]*")
_SPLIT_LATIN = re.compile(r"[\s\-^,]+")
# a PN token holding a digit or an underscore is a code, not a name (TCIA writes the subject's ID as its
# name, Lung_Dx-A0002): kept whole as a form, its letter runs (Lung, Dx) are no name variants
_CODE_TOKEN = re.compile(r"[^\s^=,]*[\d_][^\s^=,]*")
_MIDDLE_DOTS = "·•．."  # minority names: 阿依古丽·买买提, typed with any of these or none


def _latin_forms(family: list[str], given: list[str]) -> set[str]:
    """Lowercase forms of a Latin name: both orders, with and without separators, given name joined,
    spaced or hyphenated (``zhang sanfeng``, ``zhangsanfeng``, ``zhang^san-feng``, ``sanfeng zhang`` ...)."""
    fam = "".join(family)
    givens = {"".join(given), " ".join(given), "-".join(given)}
    out: set[str] = set()
    for g in givens:
        for sep in (" ", "", "-", "^", ", ", ","):
            out.add(f"{fam}{sep}{g}")
        for sep in (" ", "", "-"):
            out.add(f"{g}{sep}{fam}")
    return {f.strip() for f in out if f.strip()}


def _cased(family: list[str], given: list[str]) -> set[str]:
    """Upper and title case of the common forms (matching is case-insensitive everywhere anyway)."""
    fam, giv = "".join(family), "".join(given)
    out = set()
    for a, b in ((fam, giv), (giv, fam)):
        for sep in (" ", ""):
            out |= {f"{a.title()}{sep}{b.title()}", f"{a.upper()}{sep}{b.upper()}"}
    out.add(f"{fam.upper()} {giv.title()}")
    out.add(f"{fam.upper()}^{giv.upper()}")
    if len(given) > 1:
        out.add(f"{fam.title()} {'-'.join(g.title() for g in given)}")
    return out


class IdentifierRegistry:
    """Raw identifiers of a cohort with the variants a text could contain.

    Examples
    --------
    >>> reg = IdentifierRegistry()
    >>> reg.add_name("张三丰")
    >>> "zhang sanfeng" in reg.values(Kind.name)
    True
    """

    def __init__(self) -> None:
        self._forms: dict[Kind, set[str]] = {}
        self._added: dict[Kind, set[str]] = {}

    # --- adding ---------------------------------------------------------------------------

    def _store(self, kind: Kind, raw: str, forms: Iterable[str]) -> None:
        self._added.setdefault(kind, set()).add(raw)
        bucket = self._forms.setdefault(kind, set())
        bucket.update(f for f in forms if f and _has_content(f))

    def add(self, kind: Kind | str, value: object) -> None:
        """Add one identifier. Names and birth dates get their variants (:meth:`add_name`, :meth:`add_date`).

        Parameters
        ----------
        kind
            A :class:`Kind` or its value.
        value
            The raw identifier; missing, blank or separator-only values are ignored.
        """
        kind = Kind(kind)
        if kind in NAME_KINDS:
            self.add_name(value, staff=kind is Kind.staff_name)
            return
        if kind is Kind.birth_date:
            self.add_date(kind, value)
            return
        raw = _text(value)
        if not raw or not _has_content(raw):
            return
        forms = {raw}
        if kind is Kind.phone:
            forms |= set(_f.phone_forms([raw]))
        elif kind is Kind.id_card:
            forms |= _f.id_card_forms(raw)
        elif kind is Kind.address:
            forms |= _f.address_forms(raw)
        self._store(kind, raw, forms)

    def add_many(self, kind: Kind | str, values: Iterable[object] | pa.Array | pa.ChunkedArray) -> None:
        """:meth:`add` for each value: the same forms, built over the distinct values at once.

        A cohort notes hundreds of thousands of admission numbers, phones and ID cards: their forms are
        built in Arrow (:mod:`curation.deid._idforms`); names are expanded once per distinct name.

        Parameters
        ----------
        kind
            A :class:`Kind` or its value.
        values
            Raw identifiers: any iterable, or Arrow strings (read without a Python object per value).
        """
        kind = Kind(kind)
        if kind in NAME_KINDS:
            self._add_names(kind, values)
            return
        texts, objects = _texts(values, keep_objects=kind is Kind.birth_date)
        if texts is None:  # text Arrow cannot hold (lone surrogates of undecodable bytes): one at a time
            for v in objects:
                self.add(kind, v)
            return
        raws = _f.clean(texts)
        # birth dates given as date objects: their renderings come from the object, not its text
        dated = [(r, v) for v in objects for r in (_text(v),) if r and _has_content(r)]
        if not len(raws) and not dated:
            return
        added = raws.to_pylist()
        self._added.setdefault(kind, set()).update(added, (r for r, _ in dated))
        bucket = self._forms.setdefault(kind, set())
        bucket.update(added)  # each has content (cleaned)
        # every form below keeps its value's letters and digits (or is tested): none is tested again
        arrays, rest = _f.forms_of(kind.value, raws)
        for forms in arrays:
            bucket.update(forms.to_pylist())
        bucket.update(rest, (f for r, v in dated for f in (r, *_f.date_forms(v, r))))

    def _add_names(self, kind: Kind, values: Iterable[object] | pa.Array | pa.ChunkedArray) -> None:
        """:meth:`add_name` once per distinct name not added yet (a name's forms depend on its text alone)."""
        if isinstance(values, pa.ChunkedArray | pa.Array):
            values = values.to_pylist()
        staff = kind is Kind.staff_name
        seen = self._added.get(kind, set())
        for raw in dict.fromkeys(map(_text, values)):
            if raw not in seen:
                self.add_name(raw, staff=staff)

    def add_name(self, value: object, *, staff: bool = False) -> None:
        """Add a person's name in any representation, with every variant a text could contain.

        Parameters
        ----------
        value
            ``张三丰``; a DICOM PN ``ZHANG^SANFENG=张三丰=...`` or ``ZHANG^SANFENG=张^三丰`` (an ideographic
            group's components are joined: 张三丰, with 张^三丰 and 张 三丰 kept); ``Zhang Sanfeng``; ``ZHANG San``.
            A Chinese name adds its pinyin (surname readings included: 单 shan, 曾 zeng ...) with and
            without spaces, hyphens and carets, in either order, in lower, upper and title case and
            with tone marks. A single component (a bare surname) is never a variant on its own.
        staff
            A physician, operator or report author (:attr:`Kind.staff_name`), else a patient or
            relative (:attr:`Kind.name`).
        """
        raw = _text(value)
        if not raw or not _has_content(raw):
            return
        kind = Kind.staff_name if staff else Kind.name
        forms: set[str] = {raw}
        groups = raw.split("=") if "=" in raw else [raw]
        for group in groups:
            group = group.strip()
            if not _has_content(group):
                continue
            if "^" in group and _CJK.search(group):
                # DICOM writes the ideographic group with the alphabetic group's carets (PS3.5 6.2.1.2,
                # 山田^太郎) while text writes the name as one word: the components are joined, and a
                # component alone (a bare surname or given name) is no variant
                forms |= self._ideographic_forms(group)
                continue
            for run in _CJK_RUN.findall(group):
                if _CJK.search(run):
                    forms |= self._chinese_forms(run)
            latin = "".join(ch if not _CJK.match(ch) else " " for ch in group)
            for run in _LATIN_RUN.findall(_CODE_TOKEN.sub(" ", latin)):
                forms |= self._latin_name_forms(run)
        self._store(kind, raw, forms)

    @classmethod
    def _ideographic_forms(cls, group: str) -> set[str]:
        """Forms of a PN group holding CJK characters and carets (``张^小明``, ``欧阳^娜娜^^^``): the
        components joined as one name with all its forms, and the caret and spaced forms as written."""
        comps = [c.strip() for c in group.split("^") if c.strip()]
        forms = {"^".join(comps), " ".join(comps)}
        joined = "".join(comps)
        if _CJK_RUN.fullmatch(joined):
            forms |= cls._chinese_forms(joined)
            if len(comps) > 1 and len(joined) > 4:
                # too long for a Han name (阿依古丽^买买提): text writes it with a middle dot
                forms |= cls._chinese_forms("·".join(comps))
            return forms
        # CJK mixed with Latin letters in one group: each run as the plain path reads it
        for run in _CJK_RUN.findall(joined):
            if _CJK.search(run):
                forms |= cls._chinese_forms(run)
        latin = "".join(ch if not _CJK.match(ch) else " " for ch in group)
        for run in _LATIN_RUN.findall(latin):
            forms |= cls._latin_name_forms(run)
        return forms

    @staticmethod
    def _chinese_forms(name: str) -> set[str]:
        bare = "".join(ch for ch in name if ch not in _MIDDLE_DOTS)
        forms = {name, bare}
        if any(d in name for d in _MIDDLE_DOTS):
            parts = [p for p in re.split(f"[{_MIDDLE_DOTS}]", name) if p]
            forms |= {sep.join(parts) for sep in "·•. "}
            return forms  # minority names have no standard pinyin split into surname / given
        if len(bare) < 2:
            return forms
        surname, given = _py.split_chinese_name(bare)
        given_tone = [r[0] for r in _py._readings_of(given)]
        if not all(given_tone):
            return forms
        given_plain = [_py.strip_tones(s) for s in given_tone]
        for fam_tone in _py.surname_readings(surname):
            fam_plain = [_py.strip_tones(s) for s in fam_tone]
            for fam in _py.u_spellings("".join(fam_plain)):
                for giv in _ü_variants(given_plain):
                    forms |= _latin_forms([fam], giv) | _cased([fam], giv)
            # with tone marks: zhāng sānfēng, zhāngsānfēng, sānfēng zhāng
            ft, gt = "".join(fam_tone), "".join(given_tone)
            forms |= {
                f"{ft} {gt}",
                f"{ft}{gt}",
                f"{gt} {ft}",
                f"{ft} {' '.join(given_tone)}",
                f"{ft.title()} {gt}",
                f"{gt.title()} {ft.title()}",
            }
        return forms

    @staticmethod
    def _latin_name_forms(run: str) -> set[str]:
        tokens = [t for t in _SPLIT_LATIN.split(run.strip()) if t]
        forms = {run.strip()}
        if not tokens:
            return forms
        low = [t.lower() for t in tokens]
        surnames = _py.pinyin_surnames()
        if len(low) == 1:
            # ZHANGSANFENG: split it only when it parses as a pinyin surname plus given syllables
            sy = _py.split_syllables(low[0], max_count=4)
            if sy and len(sy) >= 2:
                for n in (2, 1):
                    if "".join(sy[:n]) in surnames and len(sy) > n:
                        family, given = ["".join(sy[:n])], sy[n:]
                        return forms | _latin_forms(family, given) | _cased(family, given)
            return forms
        # family first unless only the last token is a known surname ("Sanfeng Zhang")
        if low[0] not in surnames and low[-1] in surnames:
            family, given = [low[-1]], low[:-1]
        else:
            family, given = [low[0]], low[1:]
        out = _latin_forms(family, given) | _cased(family, given)
        # a given name typed as one word (SANFENG) also appears split into syllables (San Feng)
        if len(given) == 1:
            sy = _py.split_syllables(given[0])
            if sy and len(sy) > 1:
                out |= _latin_forms(family, sy) | _cased(family, sy)
        return forms | out

    def add_date(self, kind: Kind | str, value: object) -> None:
        """Add a date (a birth date) as written plus its common renderings.

        ``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY/M/D``, ``YYYY/MM/DD``, ``YYYY年M月D日``, ``YYYY年MM月DD日``,
        ``YYYY.MM.DD``, ``YYYY.M.D``, ``DD/MM/YYYY``, ``MM/DD/YYYY``. A value that does not parse as a
        date is kept as written.
        """
        kind = Kind(kind)
        raw = _text(value)
        if not raw or not _has_content(raw):
            return
        self._store(kind, raw, [raw, *_f.date_forms(value, raw)])

    # --- combining and reading ------------------------------------------------------------

    def merge(self, other: IdentifierRegistry) -> IdentifierRegistry:
        """Add every identifier of ``other`` to this registry; return this registry."""
        for kind, forms in other._forms.items():
            self._forms.setdefault(kind, set()).update(forms)
        for kind, added in other._added.items():
            self._added.setdefault(kind, set()).update(added)
        return self

    def __ior__(self, other: IdentifierRegistry) -> IdentifierRegistry:
        return self.merge(other)

    def __or__(self, other: IdentifierRegistry) -> IdentifierRegistry:
        return IdentifierRegistry().merge(self).merge(other)

    def sizes(self) -> dict[str, int]:
        """Distinct identifiers added per kind (every kind listed), for run.json."""
        return {k.value: len(self._added.get(k, ())) for k in Kind}

    def fingerprint(self, keyring: Keyring) -> str:
        """A keyed HMAC over the sorted stored forms: equal registries, equal fingerprints; says nothing
        about the values without the key."""
        mac = hmac.new(keyring.secret, b"identifier-registry", hashlib.sha256)
        for kind in sorted(self._forms):
            for v in sorted(self._forms[kind]):
                mac.update(f"{kind.value}\x1f{v}\x1e".encode())
        return "hmac-sha256:" + mac.hexdigest()[:32]

    def values(self, kind: Kind | str | None = None) -> list[str]:
        """Every stored form (sorted), of one kind or of all."""
        if kind is not None:
            return sorted(self._forms.get(Kind(kind), ()))
        return sorted(set().union(*self._forms.values())) if self._forms else []

    def items(self) -> Iterable[tuple[Kind, str]]:
        """``(kind, form)`` for every stored form."""
        for kind, forms in self._forms.items():
            for v in forms:
                yield kind, v

    def name_parts(self) -> list[tuple[Kind, str]]:
        """``(kind, part)`` for each component of two characters or more of the names added with carets in
        a CJK group (``张^三丰``: 三丰, sanfeng, san feng), which no stored form holds alone.

        A record's own text may name its person by a part (a file's descriptor "CT Sanfeng"), so the
        record's own identifiers (:class:`curation.deid.text.Known`) include them; the cohort-wide forms
        never do, as a given name alone (建国, 小明) is also an ordinary word.
        """
        out: set[tuple[Kind, str]] = set()
        for kind in NAME_KINDS:
            for raw in self._added.get(kind, ()):
                for group in raw.split("="):
                    if "^" not in group or not _CJK.search(group):
                        continue
                    for comp in (c.strip() for c in group.split("^")):
                        if len(comp) < 2 or not _CJK_RUN.fullmatch(comp):
                            continue
                        out.add((kind, comp))
                        syl = [_py.strip_tones(r[0]) for r in _py._readings_of(comp)]
                        if all(syl):
                            out |= {(kind, sep.join(syl)) for sep in ("", " ", "-")}
        return sorted(out)

    def forms_by_kind(self) -> list[tuple[Kind, frozenset[str]]]:
        """``(kind, stored forms)`` per kind, in the order the kinds were first added (the scrubber's
        automaton is built from them a kind at a time)."""
        return [(kind, frozenset(forms)) for kind, forms in self._forms.items()]

    def scan_values(self) -> list[str]:
        """Every stored form of every kind, for the leak scan (which skips the short ones itself)."""
        return self.values()

    def __len__(self) -> int:
        return sum(len(v) for v in self._added.values())

    def __bool__(self) -> bool:
        return any(self._added.values())

    def __repr__(self) -> str:  # sizes only: a registry is never shown with its values
        sizes = {k: n for k, n in self.sizes().items() if n}
        return f"IdentifierRegistry({sizes})"


def _ü_variants(given: list[str]) -> list[list[str]]:
    """Given-name syllables with each ü syllable spelled every way (at most 4 spellings in total)."""
    out: list[list[str]] = [[]]
    for s in given:
        out = [[*o, v] for o in out for v in sorted(_py.u_spellings(s))][:4]
    return out


def _texts(
    values: Iterable[object] | pa.Array | pa.ChunkedArray, *, keep_objects: bool
) -> tuple[pa.Array | None, list[object]]:
    """The values as Arrow text, and the values that are no text when ``keep_objects`` (a birth date given
    as a date is read from the object); ``(None, every value)`` when a text cannot be held in Arrow."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            return values, []
        values = values.to_pylist()
    texts: list[str] = []
    objects: list[object] = []
    for v in values:  # one pass over Python objects of any type
        if isinstance(v, str):
            texts.append(v)
        elif keep_objects:
            objects.append(v)
        else:
            texts.append(_text(v))
    try:
        return pa.array(texts, pa.string()), objects
    except (UnicodeEncodeError, pa.ArrowException):
        return None, [*texts, *objects]
