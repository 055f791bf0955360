"""Pinyin for person names: surname readings, syllable parsing, the forms a name takes in Latin text.

pypinyin reads characters as words, not as surnames (单 dan, 曾 ceng, 解 jie, 仇 chou, 朴 pu) and has
no surname mode (mozillazg/python-pinyin#297), so the readings of polyphonic surnames are listed
here; both the surname reading and pypinyin's default are kept, since hospital systems romanize
names with either. Syllables are taken from pypinyin's own dictionary, so nothing is downloaded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

__all__ = ["NotNames", "split_chinese_name", "split_syllables", "strip_tones", "surname_readings", "u_spellings"]

# Compound surnames first: a name starting with one of these has a two-character surname.
COMPOUND_SURNAMES = [
    "欧阳",
    "司马",
    "诸葛",
    "上官",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "司徒",
    "夏侯",
    "令狐",
    "端木",
    "独孤",
    "南宫",
    "西门",
    "呼延",
    "申屠",
    "钟离",
    "司空",
    "淳于",
    "澹台",
    "闻人",
    "轩辕",
    "万俟",
    "单于",
    "赫连",
    "第五",
    "东郭",
    "公冶",
    "宗政",
    "濮阳",
    "太叔",
    "仲孙",
    "拓跋",
    "百里",
    "左丘",
    "梁丘",
    "巫马",
    "公羊",
    "漆雕",
    "乐正",
    "壤驷",
    "公良",
    "夹谷",
    "宰父",
    "谷梁",
    "段干",
    "亓官",
    "司寇",
    "子车",
    "颛孙",
    "微生",
    "羊舌",
]

# Single-character surnames (the common ones, then rarer ones seen in hospital rosters). Rare surnames that
# are mostly function words in clinical text (由 来 但 都 位 计 镇 ...) are left out: the registry knows them.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭"
    "陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安"
    "齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳"
    "管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟"
    "邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼"
    "蔺楼盘满闻厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰卿国狄平索宣晋相初门云容敬扈晁芮普阙浦戈伏鹿薄邸雍辜羊阿"
    "乌裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇哈湛宾戎勾茅於呼居揭尉冶斯元束檀昝智幸奉衡富尧闭乜佴蒯郗钭贲隗殳"
    "酆桓萧洪赖"
)

# Readings of surnames that differ from pypinyin's default (tone-marked; the default is kept too).
SURNAME_READINGS: dict[str, tuple[str, ...]] = {
    "单": ("shàn",),
    "曾": ("zēng",),
    "解": ("xiè",),
    "仇": ("qiú",),
    "朴": ("piáo",),
    "区": ("ōu",),
    "查": ("zhā",),
    "盖": ("gě", "gài"),
    "覃": ("qín", "tán"),
    "缪": ("miào",),
    "翟": ("zhái", "dí"),
    "乐": ("yuè", "lè"),
    "华": ("huà",),
    "任": ("rén",),
    "冼": ("xiǎn",),
    "秘": ("bì",),
    "繁": ("pó",),
    "种": ("chóng",),
    "重": ("chóng",),
    "纪": ("jǐ",),
    "燕": ("yān",),
    "过": ("guō",),
    "瞿": ("qú",),
    "折": ("shé",),
    "那": ("nā",),
    "佴": ("nài",),
    "粘": ("niàn",),
    "藏": ("zàng",),
    "都": ("dū",),
    "薄": ("bó",),
    "贾": ("jiǎ",),
    "盛": ("shèng",),
    "柏": ("bǎi",),
    "牟": ("móu", "mù"),
    "乜": ("niè",),
    "阚": ("kàn",),
    "叶": ("yè",),
    "沈": ("shěn",),
    "宿": ("sù",),
    "卜": ("bǔ",),
    "员": ("yùn",),
    "谌": ("chén", "shèn"),
    "隗": ("wěi",),
    "句": ("gōu",),
    "相": ("xiàng",),
    "车": ("chē",),
    "应": ("yīng",),
    "和": ("hé",),
    "莘": ("shēn",),
    "长孙": ("zhǎng sūn",),
    "尉迟": ("yù chí",),
    "万俟": ("mò qí",),
    "单于": ("chán yú",),
    "澹台": ("tán tái",),
    "令狐": ("líng hú",),
    "亓官": ("qí guān",),
    "曲": ("qū",),
    "石": ("shí",),
    "朝": ("cháo",),
    "召": ("shào",),
    "尉": ("wèi", "yù"),
    "殷": ("yīn",),
}

_TONELESS = {ord("ü"): "v"}


def strip_tones(syllable: str) -> str:
    """``zhāng`` -> ``zhang``; ``lǚ`` -> ``lv`` (pypinyin's own spelling of ü)."""
    out = []
    for ch in unicodedata.normalize("NFC", syllable):
        base = unicodedata.normalize("NFD", ch)
        if base[0] == "u" and "\u0308" in base:  # ü with or without a tone mark
            out.append("v")
        else:
            out.append("".join(c for c in base if not unicodedata.combining(c)))
    return "".join(out)


def u_spellings(syllable: str) -> set[str]:
    """The ways a toneless ü syllable is typed: lv, lu, lyu (and lü)."""
    if "v" not in syllable or syllable[0] not in "ln":
        return {syllable}
    return {syllable, syllable.replace("v", "u"), syllable.replace("v", "yu"), syllable.replace("v", "ü")}


@cache
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin knows (a-z, ü as v), vowel-less interjections excluded."""
    from pypinyin import pinyin_dict

    out: set[str] = set()
    # 40,000 characters share about 1,500 readings: each distinct reading is stripped of its tone once
    readings = {r for rs in pinyin_dict.pinyin_dict.values() for r in rs.split(",")}
    for r in readings:
        s = strip_tones(r)
        if s.isascii() and s.isalpha() and re.search("[aeiouv]", s):
            out |= u_spellings(s)
    return frozenset(s for s in out if s.isascii())


@cache
def _max_syllable() -> int:
    return max(map(len, syllables()))


def split_syllables(word: str, *, max_count: int = 3) -> list[str] | None:
    """Split a lowercase Latin word into pinyin syllables (``sanfeng`` -> ``san feng``), or None.

    Longest syllable first with backtracking, as pinyin is typed without apostrophes
    (``xian`` stays one syllable, ``xian`` never ``xi an``).
    """
    found = _split(word.lower(), max_count)
    return None if found is None else list(found)


@lru_cache(maxsize=65536)
def _split(word: str, max_count: int) -> tuple[str, ...] | None:
    # cached: names repeat their syllables (zhang, wei, san) in every text and every registry entry
    syl = syllables()
    if not word or not word.isascii():
        return None

    def go(i: int, left: int) -> list[str] | None:
        if i == len(word):
            return []
        if left == 0:
            return None
        for n in range(min(_max_syllable(), len(word) - i), 0, -1):
            piece = word[i : i + n]
            if piece in syl:
                rest = go(i + n, left - 1)
                if rest is not None:
                    return [piece, *rest]
        return None

    found = go(0, max_count)
    return None if found is None else tuple(found)


def _readings_of(chars: str) -> list[list[str]]:
    """Tone-marked syllables of ``chars`` (pypinyin's default reading, one list per character)."""
    from pypinyin import Style, lazy_pinyin

    # a character pypinyin cannot read gives "" (the caller then skips pinyin for the name)
    return [[s] for s in lazy_pinyin(chars, style=Style.TONE, errors=lambda x: [""] * len(x))]  # type: ignore[arg-type,return-value]


def surname_readings(surname: str) -> list[list[str]]:
    """Tone-marked readings of a surname, each a list of syllables; the surname reading first."""
    out: list[list[str]] = [r.split() for r in SURNAME_READINGS.get(surname, ())]
    default = [r[0] for r in _readings_of(surname)]
    if default not in out:
        out.append(default)
    return [r for r in out if all(r)]


def split_chinese_name(name: str) -> tuple[str, str]:
    """Surname and given name of a Chinese name (compound surnames recognised)."""
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


@cache
def pinyin_surnames() -> frozenset[str]:
    """Toneless pinyin of every listed surname (``zhang``, ``ouyang``, ``shan``, ``dan`` ...)."""
    out: set[str] = set()
    for s in (*SURNAMES, *COMPOUND_SURNAMES):
        for r in surname_readings(s):
            out |= u_spellings("".join(strip_tones(x) for x in r))
    return frozenset(out)


# Places, brands and company words the name detector never reads as a person (curators edit it)
NOT_NAMES = Path(__file__).with_name("pinyin_not_names.yaml")


@dataclass(frozen=True)
class NotNames:
    """Pinyin that names no person (:data:`NOT_NAMES`), as lowercase letters.

    Attributes
    ----------
    places
        A candidate written as one word that is one of these is no name (SHANGHAI, Lanxi).
    brands
        Never a name however written (Kang Da); after other capitalised words, a company's name.
    company_words
        After an all-capitals candidate in the same run of capitalised words, a company's or an
        institution's name (SHANGHAI UNITED IMAGING HEALTHCARE).
    """

    places: frozenset[str]
    brands: frozenset[str]
    company_words: frozenset[str]


@cache
def not_names(path: Path = NOT_NAMES) -> NotNames:
    """Read the pinyin that names no person (read once per process).

    Raises
    ------
    ConfigError
        The file is not a mapping of lists of words (the message names the file and the key).
    """
    import yaml

    from ..errors import ConfigError

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        msg = f"{path} cannot be read as YAML ({type(exc).__name__}); fix it or restore the shipped file"
        raise ConfigError(msg) from None
    if not isinstance(raw, dict):
        msg = f"{path} must map places, brands and company_words to lists of words"
        raise ConfigError(msg)

    def words(key: str) -> frozenset[str]:
        values = raw.get(key) or []
        if not isinstance(values, list):
            msg = f"{path}: {key} must be a list of words, one per line ('- shanghai')"
            raise ConfigError(msg)
        # compared with a candidate's letters joined and lowercased: "Shen Zhen" is shenzhen
        return frozenset(w for w in (re.sub("[^a-z]", "", str(v).lower()) for v in values) if w)

    return NotNames(words("places"), words("brands"), words("company_words"))
