"""Filling the cohort-wide identifier registry from tabular sources.

Every modality's ``load`` (and its cheap ``identifiers`` hook) notes the raw identifiers it sees
into an :class:`~curation.deid.registry.IdentifierRegistry`: the values of ``phi: direct``
dictionary fields by their ``identifier`` kind, birth dates, and the values of source columns that
map to no dictionary field but whose header says they hold a person, a phone or an ID (a 医生
or 联系电话 column nobody mapped is dropped from the output, yet its names can appear in other
rows' free text). The registry stays in memory; nothing here writes or logs a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._idforms import SPACES

if TYPE_CHECKING:
    from ..dictionary import Field
    from .registry import IdentifierRegistry

__all__ = ["kind_of_header", "note_fields", "note_unmapped", "note_values"]

# header of an unmapped column -> the kind of identifier its values are. Checked in this order
# (a 联系人电话 header is a phone, not a name): the first match wins.
HEADER_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("id_card", re.compile(r"身份证|证件号|证件号码|id[\s_-]*card|national[\s_-]*id", re.I)),
    ("phone", re.compile(r"电话|手机|联系方式|phone|mobile|\btel\b|telephone", re.I)),
    ("email", re.compile(r"邮箱|电子邮件|e-?mail", re.I)),
    ("address", re.compile(r"地址|住址|家住|户籍|address", re.I)),
    ("birth_date", re.compile(r"出生|生日|birth|\bdob\b", re.I)),
    (
        "staff_name",
        re.compile(
            r"医生|医师|主任|技师|护士|签名|签字|报告人|报告者|审核|录入人|记录人|操作员|调查员|随访人|经治|主治"
            r"|physician|doctor|surgeon|radiologist|pathologist|nurse|operator|reporter|reviewer|signed|author"
            r"|interviewer|technologist",
            re.I,
        ),
    ),
    ("name", re.compile(r"姓名|名字|患者名|病人名|联系人|家属|配偶|监护人|\bname\b|patient[\s_-]*name", re.I)),
    (
        "admission_number",
        re.compile(
            r"住院号|门诊号|病案号|病历号|就诊号|登记号|档案号|\bmrn\b|\bpid\b|patient[\s_-]*id|admission", re.I
        ),
    ),
    ("accession", re.compile(r"检查号|影像号|申请单号|accession", re.I)),
    ("specimen_id", re.compile(r"标本号|病理号|条码|样本号|specimen|barcode", re.I)),
)


def kind_of_header(header: str) -> str | None:
    """The identifier kind an unmapped source header suggests, or None."""
    for kind, rx in HEADER_HINTS:
        if rx.search(str(header)):
            return kind
    return None


def _distinct(s: pd.Series) -> pa.Array:
    """Distinct non-empty stripped values, in order of first appearance, as Arrow strings: stripped (of what
    str.strip() strips) once per distinct raw value, never a Python object per row."""
    from ..io.readers import STR

    uniq = pc.unique(pa.array(s.astype(STR).array)).drop_null()
    stripped = pc.utf8_trim(uniq, characters=SPACES)
    if not pc.all(pc.equal(stripped, uniq)).as_py():  # values that differ only in their spaces are one
        stripped = pc.unique(stripped)
    return stripped.filter(pc.not_equal(stripped, ""))


def note_values(registry: IdentifierRegistry, kind: str, values: Iterable[str] | pa.Array) -> None:
    """Add raw values of one kind, expanding names and dates the way the registry does (in one
    :meth:`~curation.deid.registry.IdentifierRegistry.add_many` pass)."""
    registry.add_many(kind, values)


def note_fields(registry: IdentifierRegistry, df: pd.DataFrame, fields: Iterable[Field]) -> None:
    """The values of every identifying dictionary field present in ``df`` (mapped source frame)."""
    for f in fields:
        if f.name not in df.columns:
            continue
        if f.phi == "direct":
            note_values(registry, f.identifier or "other", _distinct(df[f.name]))
        elif f.name == "birth_date":
            note_values(registry, "birth_date", _distinct(df[f.name]))


def note_unmapped(registry: IdentifierRegistry, frame: pd.DataFrame, headers: Iterable[str]) -> list[str]:
    """Values of unmapped columns whose header names an identifier; returns those headers."""
    noted = []
    for h in headers:
        kind = kind_of_header(h)
        if kind is None or h not in frame.columns:
            continue
        note_values(registry, kind, _distinct(frame[h]))
        noted.append(h)
    return noted
