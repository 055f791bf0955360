"""A privacy corpus of its own: two sites, every source modality, identifiers planted everywhere.

Separate from the demo generator (``curation.demo``) on purpose: other (rare) names, written by
hand with their pinyin, other ID shapes, other file formats. Twelve patients at two hospitals
(ZJ: Hangzhou, SC: Chengdu), each with a name, relatives, doctors, IDs, phones, an address and a
birth date, and the sources a hospital would send for them:

========== ================================================================================
clinical   ZJ: UTF-8 TSV exports; SC: an Excel workbook, a GB18030 CSV and one follow-up
           workbook per patient whose file *and* sheet are named after the patient
pathology  ZJ: GB18030 CSV; SC: Excel. The report text is allow-listed (``keep_free_text``)
lab        ZJ: TSV; SC: GB18030 CSV
exposure   ZJ: Excel; SC: TSV
genomics   one VCF per tumor sample (file named after the patient), a QC TSV, a sample sheet
imaging    tiny CT series (pydicom), folders named after the patient, exported (``export: true``)
immune     one small .h5ad per sample (raw integer counts, MT- genes), a sample sheet
========== ================================================================================

Identifiers sit in their own fields (names, MRNs, ID-card numbers, phones, addresses, birth
dates, staff names, DICOM PN elements at any depth, OtherPatientIDsSequence, AccessionNumber,
sample sheets, file, folder and sheet names) in both variants of the corpus. With
``planted=True`` they are also *planted* in text: free-text columns of every tabular modality
(``phi: none`` fields, unmapped 备注 / 主治医生 columns, a coded field holding a sentence, the
allow-listed report text), DICOM descriptions, comments and protocol names, VCF ``##SAMPLE`` and
command lines, sample-sheet columns, single-cell ``obs`` and ``uns``. The planted text is the
control's text with identifiers inserted, so both variants hold the same records.

:attr:`Corpus.truth` lists every identifier string written anywhere (structural and planted, in
every form used), and :meth:`Corpus.plant` makes variants for property tests. Everything is
derived from the seed; nothing reads the clock.

The people and ID shapes live in :mod:`._people`, the corpus and its writers in :mod:`._corpus`; the
builder draws identities and plants text (:mod:`._base`) and renders the tabular sources
(:mod:`._tabular`) and the file sources (:mod:`._files`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ._corpus import Corpus, Slot, Table, insert, insert_many
from ._files import _FileSources
from ._people import (
    ALL_MODALITIES,
    ALLOW_LISTED,
    CODED,
    DOCTORS,
    PATIENTS,
    PHI_NONE,
    SEED,
    SITES,
    TABULAR,
    UNMAPPED,
    Patient,
    Person,
    Truth,
    full_width,
    resident_id,
)
from ._tabular import _TabularSources

__all__ = [
    "ALLOW_LISTED",
    "ALL_MODALITIES",
    "CODED",
    "DOCTORS",
    "PATIENTS",
    "PHI_NONE",
    "SEED",
    "SITES",
    "TABULAR",
    "UNMAPPED",
    "Corpus",
    "Patient",
    "Person",
    "Slot",
    "Table",
    "Truth",
    "build",
    "full_width",
    "generate",
    "insert",
    "insert_many",
    "resident_id",
]


class _Builder(_TabularSources, _FileSources):
    """Draws identifiers and renders every source; notes each identifier it writes in the truth."""

    def build(self) -> Corpus:
        for site in ("ZJ", "SC"):
            self.clinical(site)
            self.pathology(site)
            self.lab(site)
            self.exposure(site)
        self.genomics()
        self.imaging()
        self.immune()
        self.forms()
        return Corpus(
            seed=self.seed,
            planted=self.planted,
            patients=self.patients,
            tables=self.tables,
            sources=self.sources,
            files=self.files,
            truth=self.truth,
            registry_forms=self.registry_forms,
        )


def build(seed: int = SEED, *, planted: bool = True) -> Corpus:
    """The corpus in memory; same seed, same corpus (``planted=False``: the same records, plain text)."""
    return _Builder(seed, planted).build()


def generate(
    root: Path, seed: int = SEED, *, planted: bool = True, modalities: Iterable[str] = ALL_MODALITIES
) -> tuple[Path, list[str], Corpus]:
    """Write the corpus under ``root``; returns (cohort.yaml, the truth list, the corpus)."""
    corpus = build(seed, planted=planted)
    path = corpus.write(root, modalities=modalities)
    return path, corpus.truth.values, corpus
