"""The corpus's people: patients, relatives and staff with their pinyin, the ID shapes, and the truth list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
        return self.name[len(self.surname) :]

    def pinyin_forms(self) -> list[str]:
        """The Latin forms hospital systems write: OUYANG Xiaoming, Ouyang-Xiaoming, XIAOMING OUYANG ..."""
        s, g = self.surname_py, self.given_py
        return [f"{s.upper()} {g}", f"{s}-{g}", f"{g.upper()} {s.upper()}", f"{s}{g}".lower(), f"{s} {g}", f"{g} {s}"]

    def forms(self) -> list[str]:
        return [self.name, *self.pinyin_forms()]

    def dicom_pn(self) -> str:
        """Alphabetic, ideographic and phonetic component groups."""
        return (
            f"{self.surname_py.upper()}^{self.given_py.upper()}={self.surname}^{self.given}"
            f"={self.surname_py.lower()}^{self.given_py.lower()}"
        )

    def dicom_forms(self) -> list[str]:
        return [
            f"{self.surname_py.upper()}^{self.given_py.upper()}",
            f"{self.surname}^{self.given}",
            f"{self.surname_py.lower()}^{self.given_py.lower()}",
        ]


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
    _p("欧阳晓丽", "欧阳", "Ouyang", "Xiaoli", "F"),
    _p("司马骏", "司马", "Sima", "Jun"),
    _p("诸葛明远", "诸葛", "Zhuge", "Mingyuan"),
    _p("上官鸿", "上官", "Shangguan", "Hong"),
    _p("皇甫瑞", "皇甫", "Huangfu", "Rui"),
    _p("东方琪", "东方", "Dongfang", "Qi", "F"),
    _p("慕容雪", "慕容", "Murong", "Xue", "F"),
    _p("尉迟琳", "尉迟", "Yuchi", "Lin", "F"),
    _p("令狐澈", "令狐", "Linghu", "Che"),
    _p("宇文曦", "宇文", "Yuwen", "Xi", "F"),
    _p("仇子墨", "仇", "Qiu", "Zimo"),
    _p("单婧", "单", "Shan", "Jing", "F"),
]
RELATIVES_IN_TEXT = [
    _p("欧阳建华", "欧阳", "Ouyang", "Jianhua"),
    _p("司马秀兰", "司马", "Sima", "Xiulan", "F"),
    _p("诸葛德胜", "诸葛", "Zhuge", "Desheng"),
    _p("上官玉芬", "上官", "Shangguan", "Yufen", "F"),
    _p("皇甫振邦", "皇甫", "Huangfu", "Zhenbang"),
    _p("东方淑贞", "东方", "Dongfang", "Shuzhen", "F"),
    _p("慕容桂英", "慕容", "Murong", "Guiying", "F"),
    _p("尉迟国栋", "尉迟", "Yuchi", "Guodong"),
    _p("令狐凤霞", "令狐", "Linghu", "Fengxia", "F"),
    _p("宇文长庚", "宇文", "Yuwen", "Changgeng"),
    _p("仇美珍", "仇", "Qiu", "Meizhen", "F"),
    _p("单守仁", "单", "Shan", "Shouren"),
]
# Staff by role.
DOCTORS = [
    _p("端木清远", "端木", "Duanmu", "Qingyuan"),
    _p("公孙明哲", "公孙", "Gongsun", "Mingzhe"),
    _p("闻人语嫣", "闻人", "Wenren", "Yuyan", "F"),
    _p("夏侯霁", "夏侯", "Xiahou", "Ji"),
]
PATHOLOGISTS = [_p("南宫瑾瑜", "南宫", "Nangong", "Jinyu", "F"), _p("澹台景行", "澹台", "Tantai", "Jingxing")]
RADIOLOGISTS = [_p("呼延灼华", "呼延", "Huyan", "Zhuohua"), _p("申屠晴岚", "申屠", "Shentu", "Qinglan", "F")]
OPERATORS = [_p("淳于砚秋", "淳于", "Chunyu", "Yanqiu", "F"), _p("公冶长风", "公冶", "Gongye", "Changfeng")]
LAB_STAFF = [_p("轩辕谨", "轩辕", "Xuanyuan", "Jin"), _p("司徒慧敏", "司徒", "Situ", "Huimin", "F")]
INTERVIEWERS = [_p("濮阳素素", "濮阳", "Puyang", "Susu", "F"), _p("左丘明德", "左丘", "Zuoqiu", "Mingde")]

STREETS = {
    "ZJ": ["西湖区文三路", "上城区解放路", "拱墅区莫干山路", "滨江区江南大道"],
    "SC": ["武侯区科华北路", "锦江区春熙路", "青羊区宽窄巷子", "成华区建设路"],
}
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
        return [
            f"{p[:3]}-{p[3:7]}-{p[7:]}",
            f"+86 {p[:3]} {p[3:7]} {p[7:]}",
            p,
            full_width(p),
            f"{p[:3]} {p[3:7]} {p[7:]}",
        ]

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
