from __future__ import annotations

import pickle

import pytest

from curation.deid.keys import Keyring
from curation.deid.registry import IdentifierRegistry, Kind


def _names(value: str, **kw: bool) -> set[str]:
    reg = IdentifierRegistry()
    reg.add_name(value, **kw)
    return set(reg.values())


def test_chinese_name_gets_pinyin_in_every_order_separator_and_case() -> None:
    v = _names("张三丰")
    for form in (
        "张三丰",
        "zhang sanfeng",
        "zhangsanfeng",
        "zhang-sanfeng",
        "zhang^sanfeng",
        "zhang san feng",
        "sanfeng zhang",
        "san feng zhang",
        "sanfengzhang",
        "Zhang Sanfeng",
        "ZHANG SANFENG",
        "ZHANG Sanfeng",
        "Sanfeng Zhang",
        "ZHANGSANFENG",
        "zhāng sānfēng",
        "Zhang San-Feng",
    ):
        assert form in v, form
    assert not {"zhang", "ZHANG", "Zhang", "sanfeng", "张"} & v  # a component alone is never a variant


@pytest.mark.parametrize(
    ("name", "reading"),
    [
        ("单雄信", "shan xiongxin"),
        ("曾国藩", "zeng guofan"),
        ("解缙", "xie jin"),
        ("仇英", "qiu ying"),
        ("朴槿惠", "piao jinhui"),
        ("区志强", "ou zhiqiang"),
        ("欧阳修", "ouyang xiu"),
    ],
)
def test_surname_readings(name: str, reading: str) -> None:
    v = _names(name)
    assert reading in v
    assert reading.replace(" ", "") in v


def test_default_reading_is_kept_beside_the_surname_reading() -> None:
    v = _names("单雄信")
    assert "shan xiongxin" in v and "dan xiongxin" in v


def test_u_umlaut_spellings() -> None:
    v = _names("吕小明")
    assert {"lv xiaoming", "lu xiaoming", "lyu xiaoming", "lü xiaoming"} <= v


def test_dicom_pn_all_groups_and_latin_forms() -> None:
    v = _names("ZHANG^SANFENG=张三丰=zhang^san feng", staff=True)
    assert {"张三丰", "ZHANGSANFENG", "zhang sanfeng", "sanfeng zhang", "zhang san feng", "Zhang San-Feng"} <= v
    reg = IdentifierRegistry()
    reg.add_name("ZHANG^SANFENG", staff=True)
    assert reg.sizes()["staff_name"] == 1 and reg.sizes()["name"] == 0


@pytest.mark.parametrize("value", ["Zhang Sanfeng", "ZHANG San", "Sanfeng Zhang", "ZHANGSANFENG"])
def test_latin_names_either_order(value: str) -> None:
    v = {x.lower() for x in _names(value)}
    fam_first = "zhang san" if value == "ZHANG San" else "zhang sanfeng"
    assert fam_first in v
    assert " ".join(reversed(fam_first.split())) in v
    assert fam_first.replace(" ", "") in v


def test_separator_only_and_blank_values_are_ignored() -> None:
    reg = IdentifierRegistry()
    reg.add_name("^^^^")
    reg.add(Kind.mrn, "  ")
    reg.add(Kind.mrn, None)
    reg.add(Kind.mrn, float("nan"))
    assert not reg and len(reg) == 0 and reg.values() == []


def test_dates_in_common_renderings() -> None:
    reg = IdentifierRegistry()
    reg.add_date(Kind.birth_date, "1960-01-02")
    assert {"1960-01-02", "19600102", "1960/1/2", "1960年1月2日", "1960.01.02"} <= set(reg.values(Kind.birth_date))
    reg.add(Kind.birth_date, "19710304")  # add() of a birth date goes through add_date
    assert "1971年3月4日" in reg.values(Kind.birth_date)
    reg.add_date(Kind.birth_date, "not a date")
    assert "not a date" in reg.values(Kind.birth_date)


def test_phone_and_id_forms_and_float_ids() -> None:
    reg = IdentifierRegistry()
    reg.add(Kind.phone, "+86 138 1234 5678")
    reg.add(Kind.id_card, "11010119900307451x")
    reg.add(Kind.mrn, 12345678.0)
    v = set(reg.values())
    assert {"13812345678", "138-1234-5678", "11010119900307451X", "12345678"} <= v


def test_merge_sizes_pickle_and_fingerprint() -> None:
    a, b = IdentifierRegistry(), IdentifierRegistry()
    a.add_name("张三")
    a.add(Kind.mrn, "ZY001")
    b.add_name("李四", staff=True)
    b.add_many(Kind.accession, ["ACC1", "ACC2"])
    c = a | b
    assert c.sizes()["name"] == 1 and c.sizes()["staff_name"] == 1 and c.sizes()["accession"] == 2
    assert set(c.sizes()) == {k.value for k in Kind}
    a |= b
    assert set(a.values()) == set(c.values()) and len(a) == 5
    assert set(a.scan_values()) == set(a.values())
    back = pickle.loads(pickle.dumps(a))
    k1, k2 = Keyring(b"k" * 32), Keyring(b"j" * 32)
    assert back.fingerprint(k1) == a.fingerprint(k1) != a.fingerprint(k2)
    assert a.fingerprint(k1).startswith("hmac-sha256:")
    assert "张三" not in repr(a) and "ZY001" not in repr(a)  # sizes only


@pytest.mark.parametrize(
    ("pn", "joined", "reading"),
    [
        ("ZHANG^XIAOMING=张^小明", "张小明", "zhang xiaoming"),
        ("OUYANG^NANA=欧阳^娜娜=ou yang^na na", "欧阳娜娜", "ouyang nana"),
        ("张^小明", "张小明", "zhangxiaoming"),
        ("LI^SI=李^四^^^", "李四", "li si"),
    ],
)
def test_dicom_ideographic_group_with_carets_is_joined(pn: str, joined: str, reading: str) -> None:
    # PS3.5 6.2.1.2 writes the ideographic group with the alphabetic group's carets (山田^太郎); text
    # writes the name as one word
    v = _names(pn)
    assert joined in v and reading in v
    caret = "^".join(c for c in pn.split("=")[1 if "=" in pn else 0].split("^") if c)
    assert caret in v  # the caret form is kept too
    family, given = caret.split("^")
    assert family not in v and given not in v  # a component alone is never a variant


def test_dicom_ideographic_group_is_scrubbed_joined() -> None:
    from curation.deid.text import Scrubber

    reg = IdentifierRegistry()
    reg.add_name("ZHANG^XIAOMING=张^小明")
    out = Scrubber(reg, names=False).scrub("由张小明签字；张^小明；ZHANG XIAOMING；小明同学")
    assert out == "由[姓名]签字；[姓名]；[姓名]；小明同学"


def test_name_parts_only_for_a_records_own_text() -> None:
    from curation.deid.text import Known, Scrubber

    reg = IdentifierRegistry()
    reg.add_name("Zhang^Sanfeng=张^三丰")
    parts = {v for _, v in reg.name_parts()}
    assert {"三丰", "sanfeng", "san feng"} <= parts and "张" not in parts
    assert not parts & set(reg.values())  # never a cohort-wide form
    sc = Scrubber(names=False)
    assert sc.scrub("CT chest Sanfeng; 三丰复查", known=Known(reg)) == "CT chest [姓名]; [姓名]复查"
    assert Scrubber(reg, names=False).scrub("CT chest Sanfeng") == "CT chest Sanfeng"


def test_a_name_that_is_a_code_gives_no_name_parts() -> None:
    """TCIA writes the subject ID as PatientName (Lung_Dx-A0002): 'Lung' alone is no name form, or the leak
    scan flags 'no lung kernel' in the imaging fitness text (a false alarm seen on tcia-lung-pet-ct-dx);
    the whole value still is one."""
    reg = IdentifierRegistry()
    reg.add_name("Lung_Dx-A0002")
    reg.add_name("ZHANG^SANFENG^^^12345")
    forms = {v for _, v in reg.items()}
    assert "Lung_Dx-A0002" in forms and not {"Lung", "lung", "Dx", "Dx-A"} & forms
    assert {"zhang sanfeng", "ZHANG^SANFENG"} <= forms  # a real name beside a code keeps its forms
