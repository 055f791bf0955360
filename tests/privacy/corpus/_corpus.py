"""The corpus in memory (tables, files, slots where free text sits, plants) and its writers."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._people import ALL_MODALITIES, Patient, Truth


# ------------------------------------------------------------------------------------- tables
@dataclass(repr=False)
class Table:
    """One sheet or delimited file of a tabular source, as text cells."""

    def __repr__(self) -> str:  # a path or sheet can be named after a patient
        return f"Table({self.modality}, {self.site}, {self.fmt}, {len(self.rows)} rows)"

    modality: str
    site: str
    path: str  # relative to the cohort root
    fmt: str  # tsv | csv | excel
    header: list[str]
    rows: list[list[str]]
    encoding: str = "utf-8"
    sheet: str = ""
    slots: dict[str, str] = field(default_factory=dict)  # header -> slot kind (free text lives here)

    def column(self, header: str) -> int:
        return self.header.index(header)


@dataclass(frozen=True)
class Slot:
    """A free-text cell that can receive identifiers."""

    table: int
    column: str
    row: int
    kind: str
    modality: str

    def place(self, corpus: Corpus) -> str:
        t = corpus.tables[self.table]
        return f"text:{t.modality}:{t.path}{'#' + t.sheet if t.sheet else ''}:{self.column}:row{self.row + 1}"


@dataclass(repr=False)
class Corpus:
    """The corpus in memory: :meth:`write` puts it on disk as a cohort folder."""

    def __repr__(self) -> str:
        return (
            f"Corpus(seed={self.seed}, planted={self.planted}, {len(self.patients)} patients, "
            f"{len(self.tables)} tables, {len(self.truth.values)} identifiers)"
        )

    seed: int
    planted: bool
    patients: list[Patient]
    tables: list[Table]
    sources: dict[str, list[dict[str, Any]]]
    files: dict[str, Any]  # relpath -> content spec (str text, bytes, or a dict for DICOM / h5ad)
    truth: Truth
    registry_forms: list[tuple[str, str]]  # (value, kind): identifiers the sources list, in every form

    # -------------------------------------------------------------------------------- slots
    def slots(self, kinds: Iterable[str] | None = None, modalities: Iterable[str] | None = None) -> list[Slot]:
        """Every free-text cell, in a stable order."""
        want = set(kinds) if kinds is not None else None
        mods = set(modalities) if modalities is not None else None
        out = []
        for i, t in enumerate(self.tables):
            if mods is not None and t.modality not in mods:
                continue
            for col, kind in t.slots.items():
                if want is not None and kind not in want:
                    continue
                out += [Slot(i, col, r, kind, t.modality) for r in range(len(t.rows))]
        return out

    def text(self, slot: Slot) -> str:
        t = self.tables[slot.table]
        return t.rows[slot.row][t.column(slot.column)]

    def plant(self, positions: Sequence[tuple[Slot, float]], values: Sequence[str]) -> Corpus:
        """A copy with ``values[i]`` inserted into the text of ``positions[i]`` (slot, relative position 0..1).

        The position snaps to the nearest place that does not split a Latin word or a number, and a
        Latin or numeric value gets a space where it would touch a letter or a digit. Every planted
        value is added to the copy's truth.
        """
        out = copy.deepcopy(self)
        out.truth = self.truth.copy()
        known = dict(self.registry_forms)
        by_slot: dict[Slot, list[tuple[float, str]]] = {}
        for (slot, at), value in zip(positions, values, strict=True):
            by_slot.setdefault(slot, []).append((at, value))
            out.truth.note(value, known.get(value, self.truth._kinds.get(value, "planted")), slot.place(out))
        for slot, items in by_slot.items():
            t = out.tables[slot.table]
            c = t.column(slot.column)
            t.rows[slot.row][c] = insert_many(t.rows[slot.row][c], items)
        return out

    # -------------------------------------------------------------------------------- write
    def write(self, root: Path, *, modalities: Iterable[str] = ALL_MODALITIES) -> Path:
        """Write the cohort under ``root`` (sources, key, cohort.yaml); returns cohort.yaml's path."""
        mods = set(modalities)
        root.mkdir(parents=True, exist_ok=True)
        by_path: dict[str, list[Table]] = {}
        for t in self.tables:
            if t.modality in mods:
                by_path.setdefault(t.path, []).append(t)
        for rel, tables in by_path.items():
            _write_table(root / rel, tables)
        for rel, spec in self.files.items():
            if spec["modality"] in mods:
                _write_file(root / rel, spec)
        (root / "keys").mkdir(exist_ok=True)
        rng = random.Random(self.seed)
        key = root / "keys" / "privacy.key"
        key.write_text("".join(rng.choice("0123456789abcdef") for _ in range(64)))
        key.chmod(0o600)  # the key must be readable by its owner only
        cfg = {
            "cohort": {"name": "privacy-corpus", "description": "Synthetic two-site cohort with planted identifiers"},
            "sites": [
                {"id": "ZJ", "name": "Hospital ZJ", "region": "浙江省", "id_patterns": [r"ZY\d{4}-\d{5}", r"MZ\d{7}"]},
                {"id": "SC", "name": "Hospital SC", "region": "四川省"},
            ],
            "dictionary_version": "1.0",
            "sources": {m: s for m, s in self.sources.items() if m in mods and s},
            "output": "out",
            "secret": {"file": "keys/privacy.key"},
            "executor": {"kind": "local", "jobs": 2},
            "options": {"seed": self.seed, "planted": self.planted},
        }
        path = root / "cohort.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path


def _word(ch: str) -> bool:
    """Characters that hold a Latin word, a number or an ID together (3.95, ZY2024-00731, a@b.cn)."""
    return ch.isascii() and (ch.isalnum() or ch in "._-/@+:")


def insert(text: str, value: str, at: float) -> str:
    """``value`` inserted into ``text`` near relative position ``at`` without splitting a word or number."""
    return insert_many(text, [(at, value)])


_CLAUSE_END = "，。；;,、）) "


def insert_many(text: str, items: Sequence[tuple[float, str]], *, clause: bool = False) -> str:
    """Each value inserted near its relative position in the *original* text, so that no value is
    cut by another one; a position snaps to the nearest place between words (Latin words, numbers
    and IDs stay whole) and a value gets a space where it would touch a Latin word or a number.

    With ``clause=True`` values go only between clauses (after punctuation, or at either end) and
    are followed (or, at the end, preceded) by a ``；``, as a phrase a clerk typed into a note.
    """
    if clause:
        cuts = [i for i in range(len(text) + 1) if i in (0, len(text)) or text[i - 1] in _CLAUSE_END]
    else:
        cuts = [i for i in range(len(text) + 1) if i in (0, len(text)) or not (_word(text[i - 1]) and _word(text[i]))]
    placed: list[tuple[int, int, str]] = []
    for k, (at, value) in enumerate(items):
        want = round(max(0.0, min(1.0, at)) * len(text))
        cut = min(cuts, key=lambda c: (abs(c - want), c))
        if clause and text:
            value = f"；{value}" if cut == len(text) and text[-1] not in _CLAUSE_END else f"{value}；"
        placed.append((cut, k, value))
    parts, pos = [], 0
    for i, _, value in sorted(placed):
        before = text[pos:i]
        parts.append(before)
        left = before[-1:] or (parts[-2][-1:] if len(parts) > 1 and parts[-2] else "")
        right = text[i : i + 1]
        pre = " " if left and _word(left) and _word(value[0]) else ""
        post = " " if right and _word(right) and _word(value[-1]) else ""
        parts.append(f"{pre}{value}{post}")
        pos = i
    parts.append(text[pos:])
    return "".join(parts)


# ------------------------------------------------------------------------------------ writers
def _write_table(path: Path, tables: list[Table]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = tables[0]
    if t0.fmt == "excel":
        from openpyxl import Workbook

        wb = Workbook()
        wb.remove(wb.active)
        for t in tables:
            ws = wb.create_sheet(t.sheet)
            ws.append(t.header)
            for r in t.rows:
                ws.append(r)
        wb.save(path)
        return
    sep = "\t" if t0.fmt == "tsv" else ","
    lines = [sep.join(_quote(c, sep) for c in t0.header)] + [sep.join(_quote(c, sep) for c in r) for r in t0.rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(t0.encoding))


def _quote(cell: str, sep: str) -> str:
    if any(ch in cell for ch in (sep, '"', "\n", "\r")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _write_file(path: Path, spec: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec["type"] == "text":
        path.write_bytes(spec["text"].encode(spec.get("encoding", "utf-8")))
    elif spec["type"] == "dicom":
        _write_dicom(path, spec)
    elif spec["type"] == "h5ad":
        _write_h5ad(path, spec)
    else:  # pragma: no cover - a spec this module did not make
        msg = f"unknown file spec type {spec['type']!r}"
        raise ValueError(msg)


def _write_dicom(path: Path, spec: dict[str, Any]) -> None:
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as Seq
    from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    e = spec["elements"]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.2")
    meta.MediaStorageSOPInstanceUID = UID(e["SOPInstanceUID"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian if spec["explicit"] else ImplicitVRLittleEndian
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.8.498.77")
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = spec["charset"]
    for kw, value in e.items():
        if kw.endswith("Sequence"):
            setattr(ds, kw, Seq([_item(x) for x in value]))
        else:
            setattr(ds, kw, value)
    rng = np.random.default_rng(spec["pixel_seed"])
    n = int(e["Rows"])
    yy, xx = np.mgrid[0:n, 0:n]
    img = np.where(((xx - n / 2) / (n * 0.4)) ** 2 + ((yy - n / 2) / (n * 0.3)) ** 2 <= 1, 40.0, -1000.0)
    img += rng.normal(0, 10, img.shape)
    ds.PixelData = (np.clip(img, -1024, 3071) + 1024).astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def _item(spec: dict[str, Any]) -> Any:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as Seq

    ds = Dataset()
    for kw, value in spec.items():
        setattr(ds, kw, Seq([_item(x) for x in value]) if kw.endswith("Sequence") else value)
    return ds


def _write_h5ad(path: Path, spec: dict[str, Any]) -> None:
    import warnings

    import anndata as ad
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(spec["seed"])
    genes: list[str] = spec["genes"]
    n_cells, n_genes = spec["n_cells"], len(genes)
    groups: list[list[int]] = spec["marker_groups"]
    rate = np.full((n_cells, n_genes), 2.5)
    kind = rng.integers(0, len(groups), n_cells)
    for g, idx in enumerate(groups):
        rate[np.ix_(kind == g, idx)] = 25.0
    mt = [i for i, s in enumerate(genes) if s.startswith("MT-")]
    rate[:, mt] = 6.0
    X = sp.csr_matrix(rng.poisson(rate).astype(np.float32))
    obs = pd.DataFrame(
        {k: [v] * n_cells for k, v in spec["obs"].items()},
        index=pd.Index([f"{spec['barcode_prefix']}{b}" for b in _barcodes(rng, n_cells)]),
    )
    var = pd.DataFrame({"gene_ids": [f"ENSG9{i:010d}" for i in range(n_genes)]}, index=pd.Index(genes))
    a = ad.AnnData(X=X, obs=obs, var=var)
    a.uns.update(spec["uns"])
    with warnings.catch_warnings():
        # anndata notes that object columns are stored as categoricals / strings: nothing is lost
        warnings.filterwarnings("ignore", category=FutureWarning, module="anndata")
        warnings.filterwarnings("ignore", message=".*categor.*", category=UserWarning)
        a.write_h5ad(path)


def _barcodes(rng: Any, n: int) -> list[str]:
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen["".join(rng.choice(list("ACGT"), 16)) + "-1"] = None
    return list(seen)
