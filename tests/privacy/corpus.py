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
"""

# ruff: noqa: E501 - rows of Chinese text read best one record per line
from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SEED = 20241130
SITES = {"ZJ": ("浙江省", "杭州市"), "SC": ("四川省", "成都市")}
TABULAR = ("clinical", "pathology", "lab", "exposure")
ALL_MODALITIES = ("clinical", "pathology", "lab", "exposure", "genomics", "imaging", "immune")

# Slot kinds: where free text sits in a tabular source
PHI_NONE = "phi_none"  # a text field the dictionary marks phi: none (regimen, lab value)
ALLOW_LISTED = "allow_listed"  # pathology report_text with options.keep_free_text
UNMAPPED = "unmapped"  # a column mapped to no field (备注, 随访记录): dropped, but read
CODED = "coded"  # a coded field holding a sentence instead of a code


# ------------------------------------------------------------------------------------------ names
@dataclass(frozen=True, repr=False)
class Person:
    """A person with a Chinese name and its pinyin, written by hand (surname, given name)."""

    # reprs never show an identifier: pytest prints the arguments of a failing test
    def __repr__(self) -> str:
        return f"Person({len(self.name)} characters)"

    name: str
    surname: str
    surname_py: str
    given_py: str
    sex: str = "M"

    @property
    def given(self) -> str:
        return self.name[len(self.surname):]

    def pinyin_forms(self) -> list[str]:
        """The Latin forms hospital systems write: OUYANG Xiaoming, Ouyang-Xiaoming, XIAOMING OUYANG ..."""
        s, g = self.surname_py, self.given_py
        return [f"{s.upper()} {g}", f"{s}-{g}", f"{g.upper()} {s.upper()}", f"{s}{g}".lower(), f"{s} {g}",
                f"{g} {s}"]

    def forms(self) -> list[str]:
        return [self.name, *self.pinyin_forms()]

    def dicom_pn(self) -> str:
        """Alphabetic, ideographic and phonetic component groups."""
        return (f"{self.surname_py.upper()}^{self.given_py.upper()}={self.surname}^{self.given}"
                f"={self.surname_py.lower()}^{self.given_py.lower()}")

    def dicom_forms(self) -> list[str]:
        return [f"{self.surname_py.upper()}^{self.given_py.upper()}", f"{self.surname}^{self.given}",
                f"{self.surname_py.lower()}^{self.given_py.lower()}"]


def _p(name: str, surname: str, surname_py: str, given_py: str, sex: str = "M") -> Person:
    return Person(name, surname, surname_py, given_py, sex)


# Rare names: compound surnames (欧阳 司马 诸葛 上官 ...), polyphonic single surnames (仇 qiu,
# 单 shan), given names of one, two and three characters. None of them is in the demo's lists.
PATIENTS = [
    _p("欧阳晓明", "欧阳", "Ouyang", "Xiaoming"),
    _p("司马文璟", "司马", "Sima", "Wenjing", "F"),
    _p("诸葛云峤", "诸葛", "Zhuge", "Yunqiao"),
    _p("上官婉清", "上官", "Shangguan", "Wanqing", "F"),
    _p("皇甫嘉懿宁", "皇甫", "Huangfu", "Jiayining", "F"),
    _p("东方翊", "东方", "Dongfang", "Yi"),
    _p("慕容泓", "慕容", "Murong", "Hong"),
    _p("尉迟恭敏", "尉迟", "Yuchi", "Gongmin"),
    _p("令狐静姝", "令狐", "Linghu", "Jingshu", "F"),
    _p("宇文拓", "宇文", "Yuwen", "Tuo"),
    _p("仇韵笙", "仇", "Qiu", "Yunsheng", "F"),
    _p("单骞", "单", "Shan", "Qian"),
]
# Contact persons (registered in a contact_name column) and relatives named only in text.
CONTACTS = [
    _p("欧阳晓丽", "欧阳", "Ouyang", "Xiaoli", "F"), _p("司马骏", "司马", "Sima", "Jun"),
    _p("诸葛明远", "诸葛", "Zhuge", "Mingyuan"), _p("上官鸿", "上官", "Shangguan", "Hong"),
    _p("皇甫瑞", "皇甫", "Huangfu", "Rui"), _p("东方琪", "东方", "Dongfang", "Qi", "F"),
    _p("慕容雪", "慕容", "Murong", "Xue", "F"), _p("尉迟琳", "尉迟", "Yuchi", "Lin", "F"),
    _p("令狐澈", "令狐", "Linghu", "Che"), _p("宇文曦", "宇文", "Yuwen", "Xi", "F"),
    _p("仇子墨", "仇", "Qiu", "Zimo"), _p("单婧", "单", "Shan", "Jing", "F"),
]
RELATIVES_IN_TEXT = [
    _p("欧阳建华", "欧阳", "Ouyang", "Jianhua"), _p("司马秀兰", "司马", "Sima", "Xiulan", "F"),
    _p("诸葛德胜", "诸葛", "Zhuge", "Desheng"), _p("上官玉芬", "上官", "Shangguan", "Yufen", "F"),
    _p("皇甫振邦", "皇甫", "Huangfu", "Zhenbang"), _p("东方淑贞", "东方", "Dongfang", "Shuzhen", "F"),
    _p("慕容桂英", "慕容", "Murong", "Guiying", "F"), _p("尉迟国栋", "尉迟", "Yuchi", "Guodong"),
    _p("令狐凤霞", "令狐", "Linghu", "Fengxia", "F"), _p("宇文长庚", "宇文", "Yuwen", "Changgeng"),
    _p("仇美珍", "仇", "Qiu", "Meizhen", "F"), _p("单守仁", "单", "Shan", "Shouren"),
]
# Staff by role.
DOCTORS = [_p("端木清远", "端木", "Duanmu", "Qingyuan"), _p("公孙明哲", "公孙", "Gongsun", "Mingzhe"),
           _p("闻人语嫣", "闻人", "Wenren", "Yuyan", "F"), _p("夏侯霁", "夏侯", "Xiahou", "Ji")]
PATHOLOGISTS = [_p("南宫瑾瑜", "南宫", "Nangong", "Jinyu", "F"), _p("澹台景行", "澹台", "Tantai", "Jingxing")]
RADIOLOGISTS = [_p("呼延灼华", "呼延", "Huyan", "Zhuohua"), _p("申屠晴岚", "申屠", "Shentu", "Qinglan", "F")]
OPERATORS = [_p("淳于砚秋", "淳于", "Chunyu", "Yanqiu", "F"), _p("公冶长风", "公冶", "Gongye", "Changfeng")]
LAB_STAFF = [_p("轩辕谨", "轩辕", "Xuanyuan", "Jin"), _p("司徒慧敏", "司徒", "Situ", "Huimin", "F")]
INTERVIEWERS = [_p("濮阳素素", "濮阳", "Puyang", "Susu", "F"), _p("左丘明德", "左丘", "Zuoqiu", "Mingde")]

STREETS = {"ZJ": ["西湖区文三路", "上城区解放路", "拱墅区莫干山路", "滨江区江南大道"],
           "SC": ["武侯区科华北路", "锦江区春熙路", "青羊区宽窄巷子", "成华区建设路"]}
AREA_CODES = {"ZJ": ["330106", "330102", "330105"], "SC": ["510107", "510104", "510105"]}
LANDLINE_AREA = {"ZJ": "0571", "SC": "028"}
MOBILE_PREFIXES = ["138", "139", "137", "150", "186", "187", "158", "133"]
MAIL_DOMAINS = ["163.com", "qq.com", "126.com", "sina.cn"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def resident_id(area: str, birth: dt.date, seq: int) -> str:
    """An 18-character resident ID number with its GB 11643 (ISO 7064 MOD 11-2) check character."""
    body = f"{area}{birth:%Y%m%d}{seq:03d}"
    return body + _CHECK[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# ------------------------------------------------------------------------------------ patients
@dataclass(repr=False)
class Patient:
    """One patient's identifiers (every value is new: no demo shape, no demo name)."""

    def __repr__(self) -> str:
        return f"Patient(no={self.no}, site={self.site})"

    no: int
    person: Person
    site: str
    mrn: str
    outpatient: str
    resident_id: str
    phone: str
    landline: str
    address: str
    birth: dt.date
    email: str
    contact: Person
    contact_phone: str
    relative: Person
    specimen: str
    accession: str
    diagnosis: dt.date

    def phone_forms(self, phone: str | None = None) -> list[str]:
        p = phone or self.phone
        return [f"{p[:3]}-{p[3:7]}-{p[7:]}", f"+86 {p[:3]} {p[3:7]} {p[7:]}", p, full_width(p), f"{p[:3]} {p[3:7]} {p[7:]}"]

    def birth_forms(self) -> list[str]:
        b = self.birth
        return [f"{b.year}年{b.month}月{b.day}日", f"{b.year}/{b.month}/{b.day}", f"{b:%Y%m%d}", f"{b:%Y-%m-%d}"]

    def landline_forms(self) -> list[str]:
        area, num = self.landline.split("-", 1)
        return [f"({area}){num[:4]}-{num[4:]}", f"{area}-{num}"]

    def id_forms(self) -> list[str]:
        r = self.resident_id
        return [r, f"{r[:6]} {r[6:14]} {r[14:]}"]


class Truth:
    """Every identifier string written into the corpus, with its kind and the places it sits in."""

    def __repr__(self) -> str:
        return f"Truth({len(self._kinds)} identifiers)"

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._places: dict[str, set[str]] = {}

    def note(self, value: str, kind: str, place: str) -> str:
        self._kinds.setdefault(value, kind)
        self._places.setdefault(value, set()).add(place)
        return value

    @property
    def values(self) -> list[str]:
        """The identifiers in a stable order (their index is what test messages print)."""
        return list(self._kinds)

    def kind(self, value: str) -> str:
        return self._kinds[value]

    def places(self, value: str) -> list[str]:
        return sorted(self._places[value])

    def planted(self) -> list[str]:
        """Identifiers that sit in text (not only in their own fields)."""
        return [v for v in self._kinds if any(p.startswith("text:") for p in self._places[v])]

    def copy(self) -> Truth:
        out = Truth()
        out._kinds = dict(self._kinds)
        out._places = {k: set(v) for k, v in self._places.items()}
        return out


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
        return (f"Corpus(seed={self.seed}, planted={self.planted}, {len(self.patients)} patients, "
                f"{len(self.tables)} tables, {len(self.truth.values)} identifiers)")

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
            "sites": [{"id": "ZJ", "name": "Hospital ZJ", "region": "浙江省",
                       "id_patterns": [r"ZY\d{4}-\d{5}", r"MZ\d{7}"]},
                      {"id": "SC", "name": "Hospital SC", "region": "四川省"}],
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
        cuts = [i for i in range(len(text) + 1)
                if i in (0, len(text)) or not (_word(text[i - 1]) and _word(text[i]))]
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
        right = text[i:i + 1]
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
    obs = pd.DataFrame({k: [v] * n_cells for k, v in spec["obs"].items()},
                       index=pd.Index([f"{spec['barcode_prefix']}{b}" for b in _barcodes(rng, n_cells)]))
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


# ------------------------------------------------------------------------------------ builder
class _Builder:
    """Draws identifiers and renders every source; notes each identifier it writes in the truth."""

    def __init__(self, seed: int, planted: bool) -> None:
        self.rng = random.Random(seed)  # identities and structure: the same in both variants
        self.prng = random.Random(seed + 1)  # plants only, so a plant never shifts an identity
        self.seed = seed
        self.planted = planted
        self.truth = Truth()
        self.tables: list[Table] = []
        self.sources: dict[str, list[dict[str, Any]]] = {m: [] for m in ALL_MODALITIES}
        self.files: dict[str, Any] = {}
        self.turn: dict[str, int] = {}
        self.patients = self._patients()
        self.registry_forms: list[tuple[str, str]] = []

    # --------------------------------------------------------------------------- identities
    def _digits(self, n: int, *, first: str = "123456789") -> str:
        return self.rng.choice(first) + "".join(self.rng.choice("0123456789") for _ in range(n - 1))

    def _mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + self._digits(8, first="0123456789")

    def _patients(self) -> list[Patient]:
        out = []
        mrns: set[str] = set()
        for i, person in enumerate(PATIENTS):
            site = "ZJ" if i < 6 else "SC"
            while True:
                mrn = f"ZY{self.rng.choice([2023, 2024])}-{self._digits(5, first='0123456789')}" if site == "ZJ" \
                    else self._digits(10)
                if mrn not in mrns:
                    mrns.add(mrn)
                    break
            birth = dt.date(self.rng.randint(1946, 1972), self.rng.randint(1, 12), self.rng.randint(1, 28))
            seq = self.rng.randrange(100, 999, 2) + (1 if person.sex == "M" else 0)
            street = self.rng.choice(STREETS[site])
            province, city = SITES[site]
            addr = f"{province}{city}{street}{self.rng.randint(3, 399)}号{self.rng.randint(1, 12)}栋{self.rng.randint(1, 28)}0{self.rng.randint(1, 4)}室"
            dx = dt.date(2023, 1, 1) + dt.timedelta(days=self.rng.randint(0, 540))
            out.append(Patient(
                no=i, person=person, site=site, mrn=mrn, outpatient=f"MZ{self._digits(7, first='0123456789')}",
                resident_id=resident_id(self.rng.choice(AREA_CODES[site]), birth, seq), phone=self._mobile(),
                landline=f"{LANDLINE_AREA[site]}-{self._digits(8, first='2345678')}", address=addr, birth=birth,
                email=f"{person.surname_py.lower()}.{person.given_py[:2].lower()}{self.rng.randint(10, 99)}@{self.rng.choice(MAIL_DOMAINS)}",
                contact=CONTACTS[i], contact_phone=self._mobile(), relative=RELATIVES_IN_TEXT[i],
                specimen=(f"BL{dx:%y}-{self._digits(5, first='0123456789')}" if site == "ZJ" else f"P{dx:%Y}{self._digits(6)}"),
                accession=(f"RX{dx:%y}{self._digits(7)}" if site == "ZJ" else f"CT{self._digits(9)}"),
                diagnosis=dx,
            ))
        return out

    def note(self, value: str, kind: str, place: str) -> str:
        return self.truth.note(value, kind, place)

    def pick(self, key: str, options: Sequence[str]) -> str:
        """Options in turn (every form gets used), starting at a seeded offset."""
        n = self.turn.setdefault(key, self.prng.randrange(len(options)))
        self.turn[key] = n + 1
        return options[n % len(options)]

    # ----------------------------------------------------------------------------- plants
    def snippet(self, p: Patient, place: str, *, latin: bool = False) -> str:
        """One identifier-bearing phrase about patient ``p`` (rotating through phrase kinds and forms)."""
        others = [q for q in self.patients if q is not p]
        other = others[self.prng.randrange(len(others))]
        doctor = self.pick("doctor", [*DOCTORS, *PATHOLOGISTS, *RADIOLOGISTS, *OPERATORS])  # type: ignore[list-item]
        assert isinstance(doctor, Person)
        n = self.note

        def py(person: Person, kind: str) -> str:
            return n(self.pick(f"py:{kind}", person.pinyin_forms()), f"{kind}_pinyin", place)

        if latin:
            phrases = [
                lambda: f"pt {py(p.person, 'patient_name')}",
                lambda: f"cf {py(other.person, 'patient_name')}",
                lambda: f"Dr {py(doctor, 'staff_name')}",
                lambda: f"ref {n(other.mrn, 'mrn', place)}",
                lambda: f"tel {n(self.pick('phone', p.phone_forms())[:20], 'mobile', place)}",
            ]
            return self.pick_call("latin", phrases)
        phrases = [
            lambda: f"患者{n(p.person.name, 'patient_name', place)}",
            lambda: py(p.person, "patient_name"),
            lambda: f"家属{n(p.contact.name, 'relative_name', place)}（{n(self.pick('cphone', p.phone_forms(p.contact_phone)), 'mobile', place)}）签字",
            lambda: f"主管医师{n(doctor.name, 'staff_name', place)}",
            lambda: f"Dr. {py(doctor, 'staff_name')}",
            lambda: f"同病房{n(other.person.name, 'patient_name', place)}",
            lambda: f"与{py(other.person, 'patient_name')}同批",
            lambda: f"电话{n(self.pick('phone', p.phone_forms()), 'mobile', place)}",
            lambda: f"身份证{n(self.pick('rid', p.id_forms()), 'resident_id', place)}",
            lambda: f"住{n(p.address, 'address', place)}",
            lambda: f"出生{n(self.pick('birth', p.birth_forms()), 'birth_date', place)}",
            lambda: f"原住院号{n(other.mrn, 'mrn', place)}",
            lambda: f"座机{n(self.pick('landline', p.landline_forms()), 'landline', place)}",
            lambda: f"邮箱 {n(p.email, 'email', place)} ",
            lambda: f"{n(doctor.name, 'staff_name', place)}已阅",
            lambda: f"其子{n(p.relative.name, 'relative_name', place)}陪同",
            lambda: f"{n(p.relative.name, 'relative_name', place)}代述",
            lambda: f"门诊号{n(p.outpatient, 'outpatient_id', place)}" if p.site == "ZJ" else f"本人{n(p.person.name, 'patient_name', place)}",
            lambda: f"{n(p.mrn, 'mrn', place)}",
        ]
        return self.pick_call("cjk", phrases)

    def pick_call(self, key: str, calls: Sequence[Any]) -> str:
        n = self.turn.setdefault(key, self.prng.randrange(len(calls)))
        self.turn[key] = n + 1
        return str(calls[n % len(calls)]())

    def planted_text(self, base: str, p: Patient, place: str, *, k: int = 2, latin: bool = False,
                     limit: int | None = None) -> str:
        """``base`` with ``k`` phrases inserted (the control keeps ``base``)."""
        if not self.planted:
            return base
        items: list[tuple[float, str]] = []
        for _ in range(k):
            phrase = self.snippet(p, place, latin=latin)
            if limit is not None and len(base) + sum(len(v) + 2 for _, v in items) + len(phrase) > limit:
                break
            items.append((self.prng.random(), phrase))
        return insert_many(base, items, clause=True)

    # ----------------------------------------------------------------------------- tables
    def table(self, t: Table, source: dict[str, Any] | None) -> Table:
        self.tables.append(t)
        if source is not None:
            self.sources[t.modality].append(source)
        return t

    def identity(self, p: Patient, place: str) -> None:
        """Identifier fields of a patient row (structural, in both variants)."""
        n = self.note
        n(p.person.name, "patient_name", place)
        n(p.mrn, "mrn", place)
        n(p.resident_id, "resident_id", place)
        n(p.address, "address", place)
        n(p.contact.name, "relative_name", place)
        n(p.contact_phone, "mobile", place)

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
        return Corpus(seed=self.seed, planted=self.planted, patients=self.patients, tables=self.tables,
                      sources=self.sources, files=self.files, truth=self.truth, registry_forms=self.registry_forms)

    def forms(self) -> None:
        """Identifiers the sources list in their own fields, with every form they can take in text."""
        out: list[tuple[str, str]] = []
        for p in self.patients:
            out += [(v, "patient_name") for v in p.person.forms()]
            out += [(v, "relative_name") for v in p.contact.forms()]
            out += [(v, "mobile") for v in p.phone_forms()]
            out += [(v, "mobile") for v in p.phone_forms(p.contact_phone)]
            out += [(v, "resident_id") for v in p.id_forms()]
            out += [(v, "birth_date") for v in p.birth_forms()]
            out += [(p.mrn, "mrn"), (p.address, "address"), (p.specimen, "specimen_id")]
            if p.site == "ZJ":
                out.append((p.outpatient, "outpatient_id"))
        for staff in (*DOCTORS, *PATHOLOGISTS, *LAB_STAFF, *INTERVIEWERS):
            out += [(v, "staff_name") for v in staff.forms()]
        self.registry_forms = list(dict.fromkeys(out))

    def site_patients(self, site: str) -> list[Patient]:
        return [p for p in self.patients if p.site == site]

    # ----------------------------------------------------------------------------- clinical
    def clinical(self, site: str) -> None:
        pats = self.site_patients(site)
        values = {"sex": {"男": "male", "女": "female"},
                  "histology": {"腺癌": "adenocarcinoma", "鳞状细胞癌": "squamous_cell_carcinoma"},
                  "laterality": {"左": "left", "右": "right"},
                  "treatment_type": {"化疗": "chemotherapy", "手术": "surgery", "靶向治疗": "targeted",
                                     "免疫治疗": "immunotherapy"},
                  "vital_status": {"存活": "alive", "死亡": "dead"}}
        missing = {"不详": "unknown", "/": "not_applicable"}
        regimens = ["培美曲塞+顺铂 4周期", "奥希替尼 80mg qd", "帕博利珠单抗 200mg q3w", "胸腔镜右肺上叶切除术",
                    "多西他赛+卡铂", "吉非替尼 250mg qd"]
        if site == "ZJ":
            base = "raw/ZJ/emr"
            rows = []
            for p in pats:
                place = f"field:clinical:{base}/患者基本信息.tsv"
                self.identity(p, place)
                rows.append([p.mrn, self.note(p.outpatient, "outpatient_id", place), p.person.name,
                             "男" if p.person.sex == "M" else "女",
                             self.note(p.birth_forms()[0], "birth_date", place), p.resident_id,
                             self.note(p.phone_forms()[0], "mobile", place), p.address, p.contact.name,
                             p.contact_phone, "汉族", f"{p.diagnosis + dt.timedelta(days=3):%Y-%m-%d}",
                             self.planted_text("门诊转入", p, f"text:clinical:{base}/患者基本信息.tsv:备注")])
            cols = {"住院号": "admission_number", "姓名": "name", "性别": "sex", "出生日期": "birth_date",
                    "身份证号": "resident_id", "手机号码": "phone", "家庭住址": "address", "联系人": "contact_name",
                    "联系人电话": "contact_phone", "民族": "ethnicity", "建档日期": "record_entry_date"}
            t = Table("clinical", site, f"{base}/患者基本信息.tsv", "tsv",
                      ["住院号", "门诊号", "姓名", "性别", "出生日期", "身份证号", "手机号码", "家庭住址", "联系人", "联系人电话",
                       "民族", "建档日期", "备注"], rows, slots={"备注": UNMAPPED})
            self.table(t, self._src(t, "patients", cols, values, missing))
            rows = [[p.mrn, f"{p.diagnosis:%Y-%m-%d}", f"{p.diagnosis - dt.timedelta(days=40):%Y-%m-%d}", "C34.1",
                     "8140/3", "腺癌", "右", "1",
                     self.planted_text("CT发现右肺结节，穿刺确诊", p, f"text:clinical:{base}/诊断.tsv:诊断备注")] for p in pats]
            t = Table("clinical", site, f"{base}/诊断.tsv", "tsv",
                      ["住院号", "诊断日期", "首发症状日期", "ICD10", "形态学", "病理类型", "侧别", "ECOG", "诊断备注"], rows,
                      slots={"诊断备注": UNMAPPED})
            self.table(t, self._src(t, "conditions", {"住院号": "admission_number", "诊断日期": "diagnosis_date",
                                                      "首发症状日期": "symptom_date", "ICD10": "icd10",
                                                      "形态学": "icdo3_morphology", "病理类型": "histology",
                                                      "侧别": "laterality", "ECOG": "ecog"}, values, missing))
            rows = []
            for j, p in enumerate(pats):
                doctor = DOCTORS[j % 2]
                place = f"text:clinical:{base}/治疗.tsv"
                rows.append([p.mrn, "化疗", self.planted_text(regimens[j % len(regimens)], p, f"{place}:治疗方案"), "1",
                             f"{p.diagnosis + dt.timedelta(days=14):%Y-%m-%d}", f"{p.diagnosis + dt.timedelta(days=98):%Y-%m-%d}",
                             self.note(doctor.name, "staff_name", f"field:clinical:{base}/治疗.tsv"),
                             self.planted_text("按期完成", p, f"{place}:备注")])
            t = Table("clinical", site, f"{base}/治疗.tsv", "tsv",
                      ["住院号", "治疗类型", "治疗方案", "线数", "开始日期", "结束日期", "主治医生", "备注"], rows,
                      slots={"治疗方案": PHI_NONE, "备注": UNMAPPED})
            self.table(t, self._src(t, "treatments", {"住院号": "admission_number", "治疗类型": "treatment_type",
                                                      "治疗方案": "regimen", "线数": "line", "开始日期": "treatment_start",
                                                      "结束日期": "treatment_end", "主治医生": "physician"}, values, missing))
            rows = [[p.mrn, "存活", f"{p.diagnosis + dt.timedelta(days=300):%Y-%m-%d}", "/",
                     self.note(DOCTORS[2].name, "staff_name", f"field:clinical:{base}/随访.tsv"),
                     self.planted_text("电话随访，一般情况可", p, f"text:clinical:{base}/随访.tsv:随访记录")] for p in pats]
            t = Table("clinical", site, f"{base}/随访.tsv", "tsv", ["住院号", "生存状态", "末次随访", "死亡日期", "随访人", "随访记录"],
                      rows, slots={"随访记录": UNMAPPED})
            self.table(t, self._src(t, "outcomes", {"住院号": "admission_number", "生存状态": "vital_status",
                                                    "末次随访": "last_followup_date", "死亡日期": "death_date"}, values, missing))
            return
        # site SC: a workbook (patients, diagnoses), a GB18030 CSV (treatments), one follow-up workbook per patient
        book = "raw/SC/emr/病案首页.xlsx"
        rows = []
        for p in pats:
            place = f"field:clinical:{book}#患者信息"
            self.identity(p, place)
            rows.append([p.mrn, p.person.name, self.note(p.person.pinyin_forms()[0], "patient_name_pinyin", place),
                         "男" if p.person.sex == "M" else "女", self.note(p.birth_forms()[1], "birth_date", place),
                         p.resident_id, self.note(p.phone, "mobile", place), p.address, p.contact.name, p.contact_phone,
                         "汉族", f"{p.diagnosis + dt.timedelta(days=5):%Y/%m/%d}",
                         self.planted_text("医保患者", p, f"text:clinical:{book}#患者信息:备注")])
        cols = {"病案号": "admission_number", "患者姓名": "name", "性别": "sex", "出生日期": "birth_date",
                "证件号码": "resident_id", "联系电话": "phone", "现住址": "address", "紧急联系人": "contact_name",
                "紧急联系人电话": "contact_phone", "民族": "ethnicity", "录入日期": "record_entry_date"}
        t = Table("clinical", site, book, "excel",
                  ["病案号", "患者姓名", "姓名拼音", "性别", "出生日期", "证件号码", "联系电话", "现住址", "紧急联系人",
                   "紧急联系人电话", "民族", "录入日期", "备注"], rows, sheet="患者信息", slots={"备注": UNMAPPED})
        self.table(t, self._src(t, "patients", cols, values, missing))
        rows = [[p.mrn, f"{p.diagnosis:%Y/%m/%d}", "C34.3", "8070/3", "鳞状细胞癌", "左", "0"] for p in pats]
        t = Table("clinical", site, book, "excel", ["病案号", "确诊日期", "ICD-10", "形态学编码", "病理类型", "侧别", "ECOG"],
                  rows, sheet="诊断")
        self.table(t, self._src(t, "conditions", {"病案号": "admission_number", "确诊日期": "diagnosis_date",
                                                  "ICD-10": "icd10", "形态学编码": "icdo3_morphology",
                                                  "病理类型": "histology", "侧别": "laterality", "ECOG": "ecog"},
                                values, missing))
        rel = "raw/SC/emr/治疗记录.csv"
        rows = []
        for j, p in enumerate(pats):
            place = f"text:clinical:{rel}"
            rows.append([p.mrn, "靶向治疗" if j % 2 else "免疫治疗",
                         self.planted_text(regimens[(j + 3) % len(regimens)], p, f"{place}:具体方案", k=3),
                         "1", f"{p.diagnosis + dt.timedelta(days=20):%Y/%m/%d}", "",
                         self.note(DOCTORS[3].name, "staff_name", f"field:clinical:{rel}"),
                         self.planted_text("无不良反应", p, f"{place}:备注")])
        t = Table("clinical", site, rel, "csv", ["病案号", "治疗方式", "具体方案", "线数", "开始", "结束", "经治医师", "备注"],
                  rows, encoding="gb18030", slots={"具体方案": PHI_NONE, "备注": UNMAPPED})
        self.table(t, self._src(t, "treatments", {"病案号": "admission_number", "治疗方式": "treatment_type",
                                                  "具体方案": "regimen", "线数": "line", "开始": "treatment_start",
                                                  "结束": "treatment_end"}, values, missing))
        first = True
        for p in pats:
            rel = f"raw/SC/随访/随访_{p.person.name}.xlsx"
            self.note(p.person.name, "patient_name", f"name:{rel}")
            row = [p.mrn, "存活", f"{p.diagnosis + dt.timedelta(days=280):%Y/%m/%d}", "",
                   self.note(DOCTORS[1].name, "staff_name", f"field:clinical:{rel}"),
                   self.planted_text("门诊复查，病情稳定", p, f"text:clinical:{rel}:随访记录")]
            t = Table("clinical", site, rel, "excel", ["病案号", "生存状态", "末次随访日期", "死亡日期", "随访医生", "随访记录"],
                      [row], sheet=p.person.name, slots={"随访记录": UNMAPPED})
            src = {"site": site, "path": "raw/SC/随访/随访_*.xlsx", "format": "excel", "table": "outcomes",
                   "columns": {"病案号": "admission_number", "生存状态": "vital_status",
                               "末次随访日期": "last_followup_date", "死亡日期": "death_date"},
                   "values": {"vital_status": values["vital_status"]}, "missing": missing}
            self.table(t, src if first else None)
            first = False

    def _src(self, t: Table, table: str | None, columns: dict[str, str], values: dict[str, dict[str, str]],
             missing: dict[str, str], options: dict[str, Any] | None = None) -> dict[str, Any]:
        mapped = set(columns.values())
        src: dict[str, Any] = {"site": t.site, "path": t.path, "format": t.fmt}
        if t.fmt != "excel":
            src["encoding"] = t.encoding
        if t.sheet:
            src["sheet"] = t.sheet
        if table:
            src["table"] = table
        src["columns"] = columns
        src["values"] = {k: v for k, v in values.items() if k in mapped}
        src["missing"] = missing
        if options:
            src["options"] = options
        return src

    # ----------------------------------------------------------------------------- pathology
    def pathology(self, site: str) -> None:
        pats = self.site_patients(site)
        values = {"specimen_type": {"穿刺活检": "biopsy", "手术切除": "resection"},
                  "histology": {"腺癌": "adenocarcinoma", "鳞状细胞癌": "squamous_cell_carcinoma"},
                  "ttf1": {"(+)": "positive", "(-)": "negative"}, "p40": {"(+)": "positive", "(-)": "negative"}}
        reports = ["送检（右肺上叶）穿刺组织两条。镜下见肿瘤细胞呈腺泡状排列，免疫组化：TTF-1(+)，NapsinA(+)，P40(-)。病理诊断：浸润性腺癌。",
                   "（左肺下叶）切除标本，肿物大小3.0×2.5×2.0cm，镜下为角化型鳞状细胞癌，P40(+)，TTF-1(-)，支气管切缘未见癌。"]
        rel = "raw/ZJ/病理/病理报告.csv" if site == "ZJ" else "raw/SC/病理/pathology.xlsx"
        rows = []
        for j, p in enumerate(pats):
            place = f"field:pathology:{rel}"
            self.note(p.mrn, "mrn", place)
            self.note(p.specimen, "specimen_id", place)
            squamous = site == "SC"
            rows.append([p.mrn, p.specimen, "穿刺活检" if j % 2 else "手术切除",
                         f"{p.diagnosis - dt.timedelta(days=2):%Y-%m-%d}", "鳞状细胞癌" if squamous else "腺癌",
                         f"{(j * 17) % 90}%", f"{20 + j * 7}%", "(-)" if squamous else "(+)", "(+)" if squamous else "(-)",
                         self.planted_text(reports[squamous], p, f"text:pathology:{rel}:报告", k=4),
                         self.note(PATHOLOGISTS[j % 2].name, "staff_name", place),
                         self.note(PATHOLOGISTS[(j + 1) % 2].name, "staff_name", place),
                         self.planted_text("会诊", p, f"text:pathology:{rel}:备注")])
        header = ["住院号" if site == "ZJ" else "病案号", "病理号", "标本类型", "送检日期", "病理诊断", "PD-L1(TPS)", "Ki-67",
                  "TTF-1", "P40", "报告", "诊断医师", "审核医师", "备注"]
        t = Table("pathology", site, rel, "csv" if site == "ZJ" else "excel", header, rows,
                  encoding="gb18030", sheet="" if site == "ZJ" else "病理",
                  slots={"报告": ALLOW_LISTED, "备注": UNMAPPED})
        cols = {header[0]: "admission_number", "病理号": "specimen_id", "标本类型": "specimen_type", "送检日期": "specimen_date",
                "病理诊断": "histology", "PD-L1(TPS)": "pdl1_tps", "Ki-67": "ki67", "TTF-1": "ttf1", "P40": "p40",
                "报告": "report_text", "诊断医师": "pathologist", "审核医师": "reviewer"}
        self.table(t, self._src(t, None, cols, values, {"不详": "unknown"}, {"keep_free_text": ["report_text"]}))

    # ----------------------------------------------------------------------------- lab
    def lab(self, site: str) -> None:
        pats = self.site_patients(site)
        analytes = [("癌胚抗原(CEA)", "ng/mL", "0-5"), ("细胞角蛋白19片段(CYFRA21-1)", "ng/mL", "0-3.3"),
                    ("神经元特异性烯醇化酶(NSE)", "ng/mL", "0-16.3")]
        rel = "raw/ZJ/检验/LIS导出.tsv" if site == "ZJ" else "raw/SC/检验/lis.csv"
        rows = []
        for j, p in enumerate(pats):
            for k, (name, unit, ref) in enumerate(analytes):
                when = p.diagnosis - dt.timedelta(days=3 - k)
                value = "溶血，请重新采样" if (j + k) % 5 == 0 else f"{1.2 + ((j * 7 + k * 3) % 40) / 4:.2f}"
                place = f"text:lab:{rel}"
                if (j + k) % 5 == 0:
                    value = self.planted_text(value, p, f"{place}:结果")
                staff = LAB_STAFF[(j + k) % 2]
                rows.append([p.mrn, name, value, unit, ref, f"{when:%Y-%m-%d} 08:{10 + k}",
                             f"{when + dt.timedelta(days=1):%Y-%m-%d} 15:30",
                             self.note(staff.name, "staff_name", f"field:lab:{rel}"),
                             self.planted_text("" if k else "空腹", p, f"{place}:备注", k=1)])
        header = ["住院号" if site == "ZJ" else "病案号", "检验项目", "结果", "单位", "参考范围", "采集时间", "报告时间",
                  "报告人" if site == "ZJ" else "检验医师", "备注"]
        t = Table("lab", site, rel, "tsv" if site == "ZJ" else "csv", header, rows,
                  encoding="utf-8" if site == "ZJ" else "gb18030", slots={"结果": PHI_NONE, "备注": UNMAPPED})
        cols = {header[0]: "admission_number", "检验项目": "analyte", "结果": "value", "单位": "unit",
                "参考范围": "reference_range", "采集时间": "collected_date", "报告时间": "report_date"}
        if site == "ZJ":
            cols["报告人"] = "reporter"
        values = {"analyte": {a[0]: a[0].split("(")[1].rstrip(")") for a in analytes}}
        self.table(t, self._src(t, None, cols, values, {"/": "not_applicable"}))

    # ----------------------------------------------------------------------------- exposure
    def exposure(self, site: str) -> None:
        pats = self.site_patients(site)
        rel = "raw/ZJ/问卷/暴露问卷.xlsx" if site == "ZJ" else "raw/SC/问卷/exposure.tsv"
        rows = []
        for j, p in enumerate(pats):
            place = f"text:exposure:{rel}"
            fam = "有" if j % 3 == 0 else "无"
            if fam == "有" and self.planted:
                fam = f"有，{self.snippet(p, place + ':肺癌家族史')}"
            rows.append([p.mrn, ["从不吸烟", "已戒烟", "目前吸烟"][j % 3], f"{(j % 3) * 15}", "是" if j % 2 else "否",
                         "否", "燃气", fam, self.note(INTERVIEWERS[j % 2].name, "staff_name", f"field:exposure:{rel}"),
                         self.planted_text("本人填写", p, f"{place}:备注")])
        header = ["住院号" if site == "ZJ" else "病案号", "吸烟状态", "吸烟包年", "二手烟暴露", "厨房油烟", "家用燃料", "肺癌家族史",
                  "调查员", "备注"]
        t = Table("exposure", site, rel, "excel" if site == "ZJ" else "tsv", header, rows,
                  sheet="问卷" if site == "ZJ" else "", slots={"肺癌家族史": CODED, "备注": UNMAPPED})
        yes = {"是": "yes", "否": "no"}
        cols = {header[0]: "admission_number", "吸烟状态": "smoking_status", "吸烟包年": "pack_years",
                "二手烟暴露": "secondhand_smoke", "厨房油烟": "cooking_fumes", "家用燃料": "household_fuel",
                "肺癌家族史": "family_history_lung_cancer", "调查员": "interviewer"}
        values = {"smoking_status": {"从不吸烟": "never", "已戒烟": "former", "目前吸烟": "current"},
                  "secondhand_smoke": yes, "cooking_fumes": yes, "household_fuel": {"燃气": "gas", "煤": "coal"},
                  "family_history_lung_cancer": {"有": "yes", "无": "no"}}
        self.table(t, self._src(t, None, cols, values, {"不详": "unknown"}))

    # ----------------------------------------------------------------------------- genomics
    def genomics(self) -> None:
        pats = [*self.site_patients("ZJ")[:2], *self.site_patients("SC")[:2]]
        sheet = ["sample_id,admission_number,site,tissue" + (",姓名,联系电话" if self.planted else "")]
        qc = ["sample_id\tmean_depth\tpct_q30\tpct_target_100x\t操作员"]
        for j, p in enumerate(pats):
            sid = f"GS-{p.site}-{p.diagnosis:%y}-{self._digits(4, first='0123456789')}"
            name_py = p.person.pinyin_forms()[1].upper()  # OUYANG-XIAOMING
            rel = f"raw/genomics/{p.site}/{sid}_{name_py}.vcf"
            self.note(sid, "sample_id", f"field:genomics:{rel}")
            self.note(name_py, "patient_name_pinyin", f"name:{rel}")
            self.note(p.mrn, "mrn", "field:genomics:raw/genomics/样本信息.csv")
            row = f"{sid},{p.mrn},{p.site},tumor"
            if self.planted:
                place = "text:genomics:raw/genomics/样本信息.csv"
                row += f",{self.note(p.person.name, 'patient_name', place)},{self.note(p.phone_forms()[0], 'mobile', place)}"
            sheet.append(row)
            op = OPERATORS[j % 2]
            qc.append(f"{sid}\t{520 + j * 31}\t{92.5 + j:.1f}\t{95.0 - j:.1f}\t{self.note(op.name, 'staff_name', 'field:genomics:raw/genomics/qc.tsv')}")
            self.files[rel] = {"modality": "genomics", "type": "text", "text": self.vcf(p, sid, rel)}
        self.files["raw/genomics/样本信息.csv"] = {"modality": "genomics", "type": "text", "text": "\n".join(sheet) + "\n"}
        self.files["raw/genomics/qc.tsv"] = {"modality": "genomics", "type": "text", "text": "\n".join(qc) + "\n"}
        opts = {"sample_sheet": "raw/genomics/样本信息.csv", "reference": "GRCh38"}
        self.sources["genomics"] = [{"path": "raw/genomics/*/*.vcf", "format": "vcf", "options": opts},
                                    {"path": "raw/genomics/qc.tsv", "format": "tsv", "table": "qc", "options": opts}]

    def vcf(self, p: Patient, sid: str, rel: str) -> str:
        place = f"text:genomics:{rel}:header"
        lines = ["##fileformat=VCFv4.2", f"##fileDate={p.diagnosis + dt.timedelta(days=12):%Y%m%d}",
                 "##source=Mutect2", "##reference=file:///ref/GRCh38/genome.fa",
                 "##contig=<ID=chr7,length=159345973,assembly=GRCh38>",
                 "##contig=<ID=chr12,length=133275309,assembly=GRCh38>",
                 "##contig=<ID=chr17,length=83257441,assembly=GRCh38>",
                 '##FILTER=<ID=PASS,Description="All filters passed">',
                 '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">',
                 '##INFO=<ID=HGVSP,Number=1,Type=String,Description="Protein change">',
                 '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
                 '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
                 '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
                 '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fraction">']
        if self.planted:
            py = self.pick("vcfpy", p.person.pinyin_forms())
            lines += [f"##SAMPLE=<ID={sid},Individual={self.note(p.person.name, 'patient_name', place)},"
                      f'Description="{self.note(py, "patient_name_pinyin", place)} tumor FFPE",Tissue=tumor>',
                      f'##GATKCommandLine=<ID=Mutect2,CommandLine="Mutect2 -I /data/{p.site}/'
                      f'{self.note(p.person.name, "patient_name", place)}_{self.note(p.person.pinyin_forms()[1], "patient_name_pinyin", place)}/{sid}.bam '
                      f'--tumor-sample {sid} -O {sid}.vcf.gz",Version="4.4.0.0">',
                      f"##operator={self.note(OPERATORS[p.no % 2].name, 'staff_name', place)} "
                      f"{self.note(p.phone_forms()[1], 'mobile', place)}"]
        else:
            lines += [f"##SAMPLE=<ID={sid},Tissue=tumor>",
                      f'##GATKCommandLine=<ID=Mutect2,CommandLine="Mutect2 -I /data/{p.site}/batch07/{sid}.bam '
                      f'--tumor-sample {sid} -O {sid}.vcf.gz",Version="4.4.0.0">']
        lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sid]))
        calls = [("chr7", 55191822, "T", "G", "GENE=EGFR;HGVSP=p.L858R"), ("chr12", 25245351, "C", "A", "GENE=KRAS;HGVSP=p.G12C"),
                 ("chr17", 7675088, "C", "T", "GENE=TP53;HGVSP=p.R175H")]
        for k, (chrom, pos, ref, alt, info) in enumerate(calls[: 2 + p.no % 2]):
            depth = 400 + 37 * k + p.no
            alt_reads = depth // (3 + k)
            lines.append("\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", info, "GT:AD:DP:AF",
                                    f"0/1:{depth - alt_reads},{alt_reads}:{depth}:{alt_reads / depth:.3f}"]))
        return "\n".join(lines) + "\n"

    # ----------------------------------------------------------------------------- imaging
    def imaging(self) -> None:
        pats = [*self.site_patients("ZJ")[:2], *self.site_patients("SC")[:2]]
        for j, p in enumerate(pats):
            other = pats[(j + 1) % len(pats)]
            folder = f"{p.person.surname_py.upper()}_{p.person.given_py.upper()}_{p.mrn}"
            self.note(f"{p.person.surname_py.upper()}_{p.person.given_py.upper()}", "patient_name_pinyin",
                      f"name:raw/dicom/{p.site}/{folder}")
            explicit = p.site == "ZJ"
            charset = "ISO_IR 192" if explicit else "GB18030"
            uid = f"2.25.{self.seed % 10**6}{p.no:03d}"
            study = f"{p.diagnosis - dt.timedelta(days=9):%Y%m%d}"
            for k in range(5):
                rel = f"raw/dicom/{p.site}/{folder}/CT_胸部平扫/IM{k + 1:04d}.dcm"
                e = self.dicom_elements(p, other, uid=uid, k=k, study=study, place=f"field:imaging:{rel}",
                                        text_place=f"text:imaging:{rel}")
                self.files[rel] = {"modality": "imaging", "type": "dicom", "explicit": explicit, "charset": charset,
                                   "elements": e, "pixel_seed": self.seed + p.no * 100 + k}
        for site in ("ZJ", "SC"):
            self.sources["imaging"].append({"site": site, "path": f"raw/dicom/{site}", "format": "dicom",
                                            "options": {"export": True}})

    def dicom_elements(self, p: Patient, other: Patient, *, uid: str, k: int, study: str, place: str,
                       text_place: str) -> dict[str, Any]:
        n = self.note
        radiologist, operator, doctor = RADIOLOGISTS[p.no % 2], OPERATORS[0], DOCTORS[p.no % 4]
        for person, kind in ((p.person, "patient_name"), (radiologist, "staff_name"), (operator, "staff_name"),
                             (doctor, "staff_name"), (PATHOLOGISTS[0], "staff_name"), (p.contact, "relative_name")):
            n(person.name, kind, place)
            for form in person.dicom_forms():
                n(form, f"{kind}_dicom", place)
        n(p.mrn, "mrn", place)
        n(p.accession, "accession", place)
        n(p.outpatient, "outpatient_id", place)
        n(p.birth_forms()[2], "birth_date", place)
        n(p.phone, "mobile", place)
        n(p.address, "address", place)
        if self.planted:  # another patient's and a doctor's names, Chinese and pinyin, in the descriptions
            study_desc = (f"胸部CT {n(other.person.name, 'patient_name', text_place + ':StudyDescription')} 对比 "
                          f"{n(doctor.pinyin_forms()[0], 'staff_name_pinyin', text_place + ':StudyDescription')}")
            series_desc = (f"LUNG 1.0 {n(self.pick('py:dicom', other.person.pinyin_forms()), 'patient_name_pinyin', text_place + ':SeriesDescription')} "
                           f"{n(doctor.name, 'staff_name', text_place + ':SeriesDescription')}")
            comments = self.planted_text("随访对比，右上肺结节较前相仿", p, text_place + ":ImageComments", k=3)
            protocol = f"胸部平扫_{n(p.person.name, 'patient_name', text_place + ':ProtocolName')}复查"
        else:
            study_desc, series_desc, comments, protocol = "胸部CT 平扫", "LUNG 1.0", "随访对比，右上肺结节较前相仿", "胸部平扫_复查"
        return {
            "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"], "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2",
            "SOPInstanceUID": f"{uid}.3.{k + 1}", "StudyDate": study, "SeriesDate": study, "AcquisitionDate": study,
            "ContentDate": study, "StudyTime": "101500", "SeriesTime": "101630",
            "AccessionNumber": p.accession, "Modality": "CT", "Manufacturer": "UNITED IMAGING",
            "InstitutionName": f"Hospital {p.site}", "ReferringPhysicianName": doctor.dicom_pn(),
            "StudyDescription": study_desc, "SeriesDescription": series_desc,
            "NameOfPhysiciansReadingStudy": radiologist.dicom_pn(), "OperatorsName": operator.dicom_pn(),
            "ManufacturerModelName": "uCT 760",
            "PatientName": p.person.dicom_pn(), "PatientID": p.mrn,
            "OtherPatientIDsSequence": [{"PatientID": p.outpatient, "IssuerOfPatientID": f"{p.site}-OPD",
                                         "TypeOfPatientID": "TEXT"}],
            "PatientBirthDate": p.birth_forms()[2], "PatientSex": p.person.sex,
            "PatientAge": f"{(p.diagnosis.year - p.birth.year):03d}Y", "OtherPatientNames": p.contact.dicom_pn(),
            "PatientAddress": p.address, "PatientTelephoneNumbers": p.phone,
            "BodyPartExamined": "CHEST", "SliceThickness": "1.0", "KVP": "120", "ExposureTime": "600",
            "XRayTubeCurrent": "80", "Exposure": "48", "ConvolutionKernel": "B_LUNG", "CTDIvol": 2.1,
            "ProtocolName": protocol, "GantryDetectorTilt": "0", "PatientPosition": "HFS",
            "StudyInstanceUID": f"{uid}.1", "SeriesInstanceUID": f"{uid}.2", "StudyID": "1", "SeriesNumber": 2,
            "InstanceNumber": k + 1, "ImagePositionPatient": [-160.0, -160.0, -200.0 + k * 1.0],
            "ImageOrientationPatient": [1, 0, 0, 0, 1, 0], "FrameOfReferenceUID": f"{uid}.4",
            "SliceLocation": -200.0 + k * 1.0, "ImageComments": comments,
            "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2", "Rows": 32, "Columns": 32,
            "PixelSpacing": [10.0, 10.0], "BitsAllocated": 16, "BitsStored": 16, "HighBit": 15,
            "PixelRepresentation": 1, "BurnedInAnnotation": "NO", "WindowCenter": "-600", "WindowWidth": "1500",
            "RescaleIntercept": "-1024", "RescaleSlope": "1",
            "RequestAttributesSequence": [{"RequestedProcedureID": p.accession,
                                           "RequestingPhysician": doctor.dicom_pn(),
                                           "ScheduledProcedureStepID": f"SPS-{p.accession}"}],
            "ContentSequence": [{"RelationshipType": "CONTAINS", "ValueType": "CONTAINER",
                                 "ContentSequence": [{"RelationshipType": "HAS OBS CONTEXT", "ValueType": "PNAME",
                                                      "PersonName": PATHOLOGISTS[0].dicom_pn()}]}],
        }

    # ----------------------------------------------------------------------------- immune
    def immune(self) -> None:
        pats = [self.site_patients("ZJ")[2], self.site_patients("SC")[2]]
        genes = _GENES
        idx = {g: i for i, g in enumerate(genes)}
        groups = [[idx[g] for g in grp] for grp in _MARKER_GROUPS]
        header = "sample_id,admission_number,site,tissue,timepoint" + (",姓名,联系电话" if self.planted else "")
        sheet = [header]
        for j, p in enumerate(pats):
            sid = f"SC{p.diagnosis:%y}T{self._digits(4, first='0123456789')}"
            py = p.person.pinyin_forms()[1].upper()
            rel = f"raw/singlecell/{sid}/{sid}_{py}.h5ad"
            place = f"field:immune:{rel}"
            self.note(sid, "sample_id", place)
            self.note(py, "patient_name_pinyin", f"name:{rel}")
            self.note(p.mrn, "mrn", "field:immune:raw/singlecell/samples.csv")
            row = f"{sid},{p.mrn},{p.site},tumor,baseline"
            obs: dict[str, str] = {"batch": f"b{j + 1}"}
            uns: dict[str, Any] = {"protocol": "10x 3' v3"}
            if self.planted:
                tp = f"text:immune:{rel}"
                row += (f",{self.note(p.person.name, 'patient_name', 'text:immune:raw/singlecell/samples.csv')},"
                        f"{self.note(p.phone_forms()[2], 'mobile', 'text:immune:raw/singlecell/samples.csv')}")
                obs.update(donor=self.note(p.person.name, "patient_name", tp + ":obs"),
                           donor_pinyin=self.note(p.person.pinyin_forms()[0], "patient_name_pinyin", tp + ":obs"),
                           note=self.planted_text("新鲜组织解离", p, tp + ":obs"))
                uns.update(operator=self.note(OPERATORS[1].name, "staff_name", tp + ":uns"),
                           donor={"name": self.note(p.person.name, "patient_name", tp + ":uns"),
                                  "mrn": self.note(p.mrn, "mrn", tp + ":uns"),
                                  "phone": self.note(p.phone_forms()[0], "mobile", tp + ":uns")},
                           notes=self.planted_text("样本处理正常", p, tp + ":uns"))
            sheet.append(row)
            self.files[rel] = {"modality": "immune", "type": "h5ad", "seed": self.seed + 7 + j, "genes": genes,
                               "n_cells": 240 + 40 * j, "marker_groups": groups, "obs": obs, "uns": uns,
                               "barcode_prefix": f"{sid}_"}
        self.files["raw/singlecell/samples.csv"] = {"modality": "immune", "type": "text", "text": "\n".join(sheet) + "\n"}
        self.sources["immune"] = [{"path": "raw/singlecell/*/*.h5ad", "format": "h5ad",
                                   "options": {"samples": "raw/singlecell/samples.csv"}}]


# marker genes (immune and lung epithelium) plus MT- and sex genes and neutral filler genes
_MARKER_GROUPS = [
    ["CD3E", "CD3D", "CD2", "IL7R", "CD8A", "CD8B", "GZMK", "CCR7", "LTB", "CD4"],
    ["MS4A1", "CD79A", "CD79B", "CD19", "BANK1"],
    ["CD14", "LYZ", "S100A8", "S100A9", "CD68", "CD163", "C1QA", "C1QB", "APOE"],
    ["NKG7", "GNLY", "KLRD1", "KLRF1"],
    ["EPCAM", "KRT8", "KRT18", "KRT19", "SFTPC", "NAPSA"],
]
_MT = ["MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP6", "MT-CO3", "MT-ND4", "MT-ND5", "MT-CYB"]
_GENES = [g for grp in _MARKER_GROUPS for g in grp] + _MT + ["XIST", "RPS4Y1", "DDX3Y"] + [
    f"ZNF{700 + i}" for i in range(260)]


def build(seed: int = SEED, *, planted: bool = True) -> Corpus:
    """The corpus in memory; same seed, same corpus (``planted=False``: the same records, plain text)."""
    return _Builder(seed, planted).build()


def generate(root: Path, seed: int = SEED, *, planted: bool = True,
             modalities: Iterable[str] = ALL_MODALITIES) -> tuple[Path, list[str], Corpus]:
    """Write the corpus under ``root``; returns (cohort.yaml, the truth list, the corpus)."""
    corpus = build(seed, planted=planted)
    path = corpus.write(root, modalities=modalities)
    return path, corpus.truth.values, corpus
