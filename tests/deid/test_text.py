from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from curation.deid.registry import IdentifierRegistry, Kind
from curation.deid.text import Finding, Known, Scrubber, measure_recall, scrub, scrub_series, valid_id_card
from curation.errors import ConfigError

LABELLED = Path(__file__).with_name("phi_labelled.jsonl")
VALID_ID = "110101199003074514"  # check digit computed by GB 11643


@pytest.fixture(scope="module")
def sc() -> Scrubber:
    return Scrubber(mrn_patterns=[r"ZY\d{8}"])


def _kinds(sc: Scrubber, text: str) -> list[tuple[str, Kind]]:
    return [(text[f.start : f.end], f.kind) for f in sc.findings(text)]


def test_recall_on_the_earlier_labelled_set() -> None:
    examples = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    recall, caught, total = measure_recall(examples)
    assert total >= 200
    assert recall >= 0.95, f"recall {recall:.3f} ({caught}/{total})"


def test_clinical_content_survives(sc: Scrubber) -> None:
    text = "CT示右肺上叶结节2.3cm，SUVmax 12.5，Ki-67 30%，T2N1M0 IIB期，PD-L1 TPS 60%，术后3月复查，于2023年手术。"
    assert sc.scrub(text) == text


def test_tokens_readable_and_fullwidth_kept() -> None:
    out = scrub("患者张三，手机１３８１２３４５６７８，住院号：ZY2023001", known=["张三"])
    # the label stays, the value goes; the full-width comma is left as written
    assert out == "患者[姓名]，手机[电话]，住院号：[编号]"


def test_id_card_checksum() -> None:
    assert valid_id_card(VALID_ID) and valid_id_card(VALID_ID.lower())
    assert not valid_id_card(VALID_ID[:-1] + "3")  # wrong check digit
    assert valid_id_card("11010519491231002X")  # X check digit
    assert not valid_id_card("110101199013074518")  # month 13
    assert valid_id_card("110101900307451")  # 15-digit legacy form


def test_id_card_detected_only_with_a_valid_check_digit(sc: Scrubber) -> None:
    assert (VALID_ID, Kind.id_card) in _kinds(sc, f"身份证{VALID_ID}。")
    assert ("110101 19900307 4514", Kind.id_card) in _kinds(sc, "ID 110101 19900307 4514")
    wrong = VALID_ID[:-1] + "3"
    assert (wrong, Kind.id_card) not in _kinds(sc, f"编号{wrong}。")


@pytest.mark.parametrize(
    "phone",
    [
        "13812345678",
        "138-1234-5678",
        "138 1234 5678",
        "+86 13812345678",
        "+86-138-1234-5678",
        "１３８１２３４５６７８",
        "0571-87654321",
        "(0571)87654321",
        "（010）6512 3456",
        "021-6543-2109",
    ],
)
def test_phones(sc: Scrubber, phone: str) -> None:
    text = f"随访联系{phone}，患者情况稳定。"
    assert sc.scrub(text) == "随访联系[电话]，患者情况稳定。"


@pytest.mark.parametrize(
    "date", ["2023年3月5日", "2023-03-05", "2023/3/5", "05/03/2023", "20230305", "2023.03.05", "2023年3月", "3月5日"]
)
def test_dates(sc: Scrubber, date: str) -> None:
    assert sc.scrub(f"于{date}行手术") == "于[日期]行手术"


def test_not_dates(sc: Scrubber) -> None:
    for text in ("20231305", "2023年", "术后3月复查", "SUV 2023.5", "剂量 0.2023-0.3"):
        assert Kind.date not in {k for _, k in _kinds(sc, text)}, text


@pytest.mark.parametrize(
    "addr",
    [
        "浙江省杭州市西湖区文三路478号",
        "北京市朝阳区建国路88号院3号楼2单元501室",
        "广东省深圳市南山区粤海街道",
        "湖南省长沙县黄花镇黄花村3组",
    ],
)
def test_addresses(sc: Scrubber, addr: str) -> None:
    out = sc.scrub(f"患者家住{addr}，吸烟30年。")
    assert out == "患者家住[地址]，吸烟30年。"


def test_not_addresses(sc: Scrubber) -> None:
    for text in ("第4R区及7区淋巴结", "上海市胸科医院会诊", "门诊3楼2号诊室", "镇痛治疗"):
        assert Kind.address not in {k for _, k in _kinds(sc, text)}, text


def test_email_and_mrn_patterns(sc: Scrubber) -> None:
    assert sc.scrub("mail zhang.san@example.com.cn，ZY20230001复诊") == "mail [邮箱]，[编号]复诊"
    assert sc.scrub("ZY2023000123") == "[编号]"  # still a long ID-like token, not the site shape
    assert Scrubber(mrn_patterns=[r"P\d{2}-\d{5}"], names=False).scrub("病理P23-01123示") == "病理[编号]示"


def test_bad_mrn_pattern_names_it() -> None:
    with pytest.raises(ConfigError, match=r"ZY\[0-9"):
        Scrubber(mrn_patterns=["ZY[0-9"])


def test_numbers_inside_floats_and_words_survive() -> None:
    reg = IdentifierRegistry()
    reg.add(Kind.mrn, "11111111")
    reg.add(Kind.sample_id, "P001")
    sc = Scrubber(reg, names=False)
    assert sc.scrub("score 0.1111111111 for AP001 gene") == "score 0.1111111111 for AP001 gene"
    assert sc.scrub("MRN 11111111, sample P001.") == "MRN [编号], sample [编号]."


def test_registry_wide_scrub_other_patients_and_staff() -> None:
    reg = IdentifierRegistry()
    reg.add_name("赵德柱")  # another patient of the cohort
    reg.add_name("QIAN^DUODUO=钱多多", staff=True)  # a doctor
    reg.add(Kind.accession, "CT2023000999")
    sc = Scrubber(reg, names=False)  # the registry alone, without the name detector
    text = "与赵德柱同病房；Zhao Dezhu's CT (CT2023000999) read by QIAN Duoduo / 钱多多 / duoduo qian."
    out = sc.scrub(text)
    assert out == "与[姓名]同病房；[姓名]'s CT ([编号]) read by [姓名] / [姓名] / [姓名]."


def test_latin_registry_values_match_whole_words_only() -> None:
    reg = IdentifierRegistry()
    reg.add_name("LI^NA")
    sc = Scrubber(reg, names=False)
    assert sc.scrub("Clinical: Li Na seen; Linac plan; Lina") == "Clinical: [姓名] seen; Linac plan; [姓名]"


def test_scrub_series_caches_and_keeps_na(sc: Scrubber) -> None:
    s = pd.Series(["患者张三丰复查", None, "患者张三丰复查", "无"], index=[5, 6, 7, 8])
    out = sc.scrub_series(s)
    assert str(out.dtype) == "string" and list(out.index) == [5, 6, 7, 8]
    assert out[5] == out[7] == "患者[姓名]复查" and pd.isna(out[6]) and out[8] == "无"


def test_scrub_series_per_row_known() -> None:
    s = pd.Series(["李四复查", None, "王五复查"])
    out = scrub_series(s, pd.Series([("李四",), (), ("王五",)]))
    assert out[0] == "[姓名]复查" and pd.isna(out[1]) and out[2] == "[姓名]复查"


def test_scrubber_pickles(sc: Scrubber) -> None:
    back = pickle.loads(pickle.dumps(sc))
    text = "患者张三丰，ZY20230001，电话13812345678"
    assert back.scrub(text) == sc.scrub(text)


def test_tabular_drop_identifiers_with_the_scrubber() -> None:
    from curation.deid.tabular import drop_identifiers

    reg = IdentifierRegistry()
    reg.add_name("孙悟空")
    df = pd.DataFrame({"patient": ["PT1"], "name": ["唐僧"], "report": ["与孙悟空同来，唐僧签字"]})
    phi = {"name": "direct", "report": "free_text"}
    known = pd.Series([("唐僧",)])
    out = drop_identifiers(df, phi, keep_text=["report"], known_by_row=known, scrubber=Scrubber(reg, names=False))
    assert list(out.columns) == ["patient", "report"] and out.loc[0, "report"] == "与[姓名]同来，[姓名]签字"
    plain = drop_identifiers(df, phi, keep_text=["report"], known_by_row=known)
    assert "唐僧" not in plain.loc[0, "report"]


def test_dicom_descriptors_lose_another_patients_name() -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    from curation.deid.dicom import deidentify
    from curation.deid.keys import Keyring

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "LIU^BEI=刘备"
    ds.StudyDescription = "CT 胸部 ref 曹操 Cao Cao"
    ds.SeriesDescription = "LIU BEI chest"
    ds.ImageComments = "对比刘备旧片；CAOCAO prior; Liu-Bei"
    reg = IdentifierRegistry()
    reg.add_name("曹操")  # another patient of the cohort, in no element of this file
    out = deidentify(
        ds, keyring=Keyring(b"d" * 32), patient_pseudonym="PTX", date_shift_days=-3, scrubber=Scrubber(reg)
    )
    text = f"{out.get('StudyDescription', '')} {out.get('SeriesDescription', '')} {out.get('ImageComments', '')}"
    for leaked in ("曹操", "Cao Cao", "CAOCAO", "刘备", "LIU BEI", "Liu-Bei"):
        assert leaked not in text, leaked
    assert "CT 胸部" in text and "chest" in text
    # without the cohort scrubber the file's own names still go
    alone = deidentify(ds, keyring=Keyring(b"d" * 32), patient_pseudonym="PTX", date_shift_days=-3)
    assert "刘备" not in str(alone.get("ImageComments", "")) and "LIU BEI" not in str(alone.get("SeriesDescription"))


# --- many texts at once: the same result as one by one ------------------------------------------------


def _batch_registry(*, across_sentences: bool = False) -> IdentifierRegistry:
    reg = IdentifierRegistry()
    for name in ("张三", "王华", "曹操", "欧阳娜娜"):
        reg.add_name(name)
    reg.add_name("LI^NA", staff=True)
    reg.add(Kind.mrn, "ZY20230001")
    reg.add(Kind.phone, "13812345678")
    reg.add(Kind.accession, "CT2023000999")
    reg.add_date(Kind.birth_date, "1960-01-02")
    if across_sentences:  # a form holding 。: the registry is then matched over whole texts
        reg.add(Kind.address, "北京市。海淀区")
    return reg


def _labelled_texts() -> list[str]:
    names = Path(__file__).with_name("labelled_notes.jsonl")
    return [
        json.loads(line)["text"] for path in (LABELLED, names) for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _whole_texts(sc: Scrubber, texts: list[str], known: object = None) -> tuple[list[str], list[list[Finding]]]:
    """What a cache-free scrubber like ``sc`` makes of each text alone, scrubbing it whole: its sentences
    are not cut apart (their separator made a character no text holds)."""
    from curation.deid.text import _engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_engine, "_SENTENCE", "\U0010fffe")
        ref = Scrubber(sc.registry, mrn_patterns=sc.mrn_patterns, cache_chars=0)
        return [ref.scrub(t, known=known) for t in texts], [ref.findings(t, known=known) for t in texts]  # type: ignore[arg-type]


def test_scrub_many_equals_scrub_on_the_labelled_sets() -> None:
    texts = _labelled_texts()
    reg = IdentifierRegistry()
    notes = Path(__file__).with_name("labelled_notes.jsonl").read_text(encoding="utf-8").splitlines()
    for ex in map(json.loads, notes):
        for span in ex["spans"][:1]:  # some of the labelled identifiers in the registry, the rest detected
            reg.add(span["kind"], span["text"])
    sc = Scrubber(reg, mrn_patterns=[r"ZY\d{8}", r"MR\d{7}"])
    expected, findings = _whole_texts(sc, texts)
    assert sc.scrub_many(texts) == expected
    assert sc.scrub_many(texts) == expected  # again, every sentence from the cache
    assert [sc.scrub(t) for t in texts] == expected
    assert [sc.findings(t) for t in texts] == findings
    assert sc.scrub_series(pd.Series(texts * 2)).tolist() == expected * 2


_PIECES = [
    "患者",
    "张三",
    "王",
    "李",
    "欧阳",
    "娜娜",
    "华",
    "医师",
    "家属",
    "之女",
    "其女",
    "先生",
    "，男",
    "同意",
    "签字",
    "的",
    "于",
    "白细胞",
    "高明",
    "上叶",
    "。",
    "。",
    "，",
    ",",
    ";",
    " ",
    "  ",
    "\n",
    ":",
    "：",
    "·",
    "Zhang",
    "San",
    "ZHANG",
    "SANFENG",
    "Li",
    "Na",
    "LI",
    "-",
    "^",
    "CT",
    "Ki-67",
    "x",
    "13812345678",
    "138",
    "1",
    "0",
    "9",
    "2023",
    "年",
    "月",
    "日",
    "号",
    "-03-05",
    "/",
    ".",
    "110101199003074514",
    "ZY20230001",
    "CT2023000999",
    "@",
    "zhang.san@example.com",
    "北京市",
    "海淀区",
    "中关村大街",
    "1号",
    "省",
    "路",
    "村",
    "İ",
    "Σ",
    "ΑΣ",
    "σ",
    "ς",
    "１３８",
    "（",
    "）",
    "０５７１",
    "住院号",
    "电话",
    "姓名",
    "住址",
    "MRN",
    "1960年1月2日",
    "曹操",
    "Cao Cao",
    "北京市。海淀区",
    "0571-87654321",
    "+86",
    "P123",
    "杭州市",
    "西湖区",
    "文三路478号",
    "中关村大街1号",
    "3单元501室",
    "家住",
    "仇美珍",
    "另见",
    "来电",
    "陪同",
    "ＺＨＡＮＧ",
    "Ｓａｎ",
]
_texts = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=25).map("".join)


@pytest.fixture(scope="module")
def batch_scrubbers() -> dict[bool, Scrubber]:
    # an MRN shape that reads across 。 (any character, a look-behind) is matched over whole texts
    across = [r"ZY\d{8}", r"\bP\d{3}", r"年.\d", r"(?<=号)\d{2}"]
    return {
        b: Scrubber(_batch_registry(across_sentences=b), mrn_patterns=across if b else across[:2])
        for b in (False, True)
    }


@pytest.mark.parametrize(
    ("pattern", "within"),
    [
        (r"ZY\d{8}", True),
        (r"\bP\d{3}", True),
        (r"MR\s?\d{3,}", True),
        (r"(?i)zy-\d+", True),
        (r"[A-Z]{2}\d+", True),
        (r"ZY.\d+", False),
        (r"[^a]\d+", False),
        (r"\W\d+", False),
        (r"(?<=号)\d+", False),
        (r"^\d+", False),
        (r"\d+$", False),
        (r"\d*", False),
        (r"(\d)\1", False),
        (r"[。]\d", False),
        (r"\d{3}(?=x)", False),
    ],
)
def test_mrn_shapes_proven_within_sentences(pattern: str, within: bool) -> None:
    import re

    from curation.deid.text import _within_sentences

    assert _within_sentences(re.compile(pattern), "。") is within


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_texts, max_size=6), across=st.booleans(), with_known=st.booleans())
# an address read across a sentence (and not across texts), lowering with a final sigma and an İ, a registry
# form holding 。, names and labels at sentence edges
@example(
    texts=["杭州市", "文三路478号", "患者住在杭州市。文三路478号，电话13812345678。"], across=False, with_known=False
)
@example(texts=["ΑΣ。İ ΑΣ", "ΑΣ", "xΣ。Li Na"], across=False, with_known=True)
@example(texts=["北京市。海淀区", "北京市", "海淀区"], across=True, with_known=False)
@example(
    texts=["患者：。张三", "姓名：\n王华。其女。王华", "ZY20230001。P123。住院号：\nZY20230001"],
    across=False,
    with_known=True,
)
def test_scrub_many_equals_scrub_on_random_text(
    batch_scrubbers: dict[bool, Scrubber], texts: list[str], across: bool, with_known: bool
) -> None:
    from curation.deid.text import Known

    # the scrubber under test keeps its sentence cache and name memo from one example to the next; the
    # reference is new each time and scrubs each text whole
    sc = batch_scrubbers[across]
    known = Known(["李四", "12345678", "Wang Wu"]) if with_known else None
    expected, findings = _whole_texts(sc, texts, known)
    assert sc.scrub_many(texts, known=known) == expected
    assert [sc.scrub(t, known=known) for t in texts] == expected
    assert [sc.findings(t, known=known) for t in texts] == findings


def test_scrub_many_keeps_non_text_and_forked_workers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    import curation.deid.text as text_mod
    from curation.deid.text import _engine

    sc = Scrubber(_batch_registry())
    texts = list(_labelled_texts()[:300])
    mixed: list[object] = [None, "", *texts[:3], float("nan")]
    out = sc.scrub_many(mixed)  # type: ignore[arg-type]
    assert out[0] is None and out[1] == "" and out[-1] != out[-1] and out[2:5] == [sc.scrub(t) for t in texts[:3]]
    assert text_mod._can_fork()  # else the workers would not be tested
    monkeypatch.setattr(_engine, "_PARALLEL_MIN_CHARS", 0)  # fork even for this small input
    forked = Scrubber(_batch_registry())
    assert forked.scrub_many(texts, workers=2) == sc.scrub_many(texts)
    assert forked.scrub_many(texts) == sc.scrub_many(texts)  # what the workers scrubbed, now cached here


def test_only_one_character_lengthens_when_lowered() -> None:
    # the scrubber lowers sentences apart only where lowering keeps every length (see _GROWS_WHEN_LOWERED)
    assert [c for c in map(chr, range(0x110000)) if len(c.lower()) != 1] == ["\u0130"]


def test_scrub_series_per_row_known_equals_scrub_per_row() -> None:
    examples = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()][:120]
    texts = pd.Series([ex["text"] for ex in examples] + [None, ""])
    known = [ex.get("known") or () for ex in examples] + [("李四",), ()]
    out = scrub_series(texts, known)
    expected = [scrub(t, known=k) if isinstance(t, str) else None for t, k in zip(texts, known, strict=True)]
    assert out.iloc[:-2].tolist() == expected[:-2] and pd.isna(out.iloc[-2]) and out.iloc[-1] == ""


# --- repeated mentions: a name the detector found once goes wherever the text repeats it ------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("其子仇美珍陪同；另见仇美珍来电。", "其子[姓名]陪同；另见[姓名]来电。"),  # one sentence
        ("其子东方淑贞陪同。另见东方淑贞来电", "其子[姓名]陪同。另见[姓名]来电"),  # across sentences
        ("另见东方淑贞来电。其子东方淑贞陪同。", "另见[姓名]来电。其子[姓名]陪同。"),  # the unfound one first
        ("Seen with ZHANG Sanfeng. ZHANG Sanfengx and ZHANG Sanfeng", "Seen with [姓名]. ZHANG Sanfengx and [姓名]"),
    ],
)
def test_repeated_mentions_of_a_found_name_go_too(text: str, expected: str) -> None:
    sc = Scrubber()
    assert sc.scrub(text) == expected
    assert sc.scrub(text) == expected  # again, its sentences from the cache
    assert sc.scrub_many([text, "另见东方淑贞来电。"]) == [expected, "另见东方淑贞来电。"]  # texts stay apart
    assert [text[f.start : f.end] for f in sc.findings(text)] == [
        text[f.start : f.end] for f in Scrubber().findings(text)
    ]
    assert all(f.kind is Kind.name for f in sc.findings(text))


def test_repeated_mentions_with_known_and_full_width_text() -> None:
    sc = Scrubber()
    text = "其子仇美珍陪同，住院号：ZY20230001。另见仇美珍来电"
    assert sc.scrub(text, known=Known(["ZY20230001"])) == "其子[姓名]陪同，住院号：[编号]。另见[姓名]来电"
    wide = "其子仇美珍陪同（ＺＨＡＮＧ）。另见仇美珍来电"
    assert sc.scrub(wide) == "其子[姓名]陪同（ＺＨＡＮＧ）。另见[姓名]来电"


# --- registry precision: a two-character name inside ordinary words --------------------------------------


def test_two_character_registry_name_straddling_words_is_kept() -> None:
    reg = IdentifierRegistry()
    reg.add_name("常强")
    reg.add_name("王华")
    sc = Scrubber(reg, names=False)
    # 异常|强化: the name's first character ends a word, its last starts one
    assert sc.scrub("增强扫描见异常强化灶。") == "增强扫描见异常强化灶。"
    # a person word beside it: the name
    assert sc.scrub("患者常强异常强化。") == "患者[姓名]异常强化。"
    assert sc.scrub("患者常强强化扫描。") == "患者[姓名]强化扫描。"
    assert sc.scrub("异常强先生来诊。") == "异[姓名]先生来诊。"
    # a word on one side only, or none: the name
    assert sc.scrub("常强复查，王华陪同。") == "[姓名]复查，[姓名]陪同。"
    assert sc.scrub("通知常强化验。") == "通知[姓名]化验。"
    # longer names and Latin forms are not affected
    reg.add_name("常强华")
    assert Scrubber(reg, names=False).scrub("异常强华化") == "异[姓名]化"
