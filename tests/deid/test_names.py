from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation.deid.names import NameDetector
from curation.deid.text import Scrubber, evaluate

LABELLED = Path(__file__).with_name("labelled_notes.jsonl")


@pytest.fixture(scope="module")
def det() -> NameDetector:
    return NameDetector()


def _found(det: NameDetector, text: str) -> list[str]:
    return [text[a:b] for a, b in det.find(text) + det.find_pinyin(text)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("患者张三丰，男，65岁，因咳嗽入院。", "张三丰"),
        ("报告医师：王建国", "王建国"),
        ("审核医师欧阳娜娜。", "欧阳娜娜"),
        ("家属李秀英签字同意手术。", "李秀英"),
        ("其女王华陪同来院。", "王华"),
        ("联系人马海燕，电话见上。", "马海燕"),
        ("因陈莉拒绝手术，改行放疗。", "陈莉"),
        ("冼少华，男，61岁。", "冼少华"),
        ("我院高峰教授会诊。", "高峰"),
        ("张伟开具医嘱。", "张伟"),
    ],
)
def test_unknown_chinese_names(det: NameDetector, text: str, name: str) -> None:
    assert name in _found(det, text)


# Common names in the contexts that vouch for a person (issue 10 review): names that start as an ordinary
# word (王国 kingdom, 黄海, 周五 Friday), words jieba tags as a verb or a number (高欢, 付强, 许成), a surname
# that is also a cue word (于), a relative speaking for the patient (代述, 代诉)
@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("王国强女士今日复查。", "王国强"),
        ("黄海燕先生诉胸闷。", "黄海燕"),
        ("周五先生来电。", "周五"),
        ("黄金凤，女，62岁。", "黄金凤"),
        ("王国强签字同意。", "王国强"),
        ("周一诺陪同。", "周一诺"),
        ("患者于洋，男，50岁。", "于洋"),
        ("家属于洋签字。", "于洋"),
        ("患者高欢，女，45岁。", "高欢"),
        ("主任许成女士查房。", "许成"),
        ("付强先生入院。", "付强"),
        ("王小明代述病史。", "王小明"),
        ("东方淑贞代述。", "东方淑贞"),
        ("仇美珍代诉。", "仇美珍"),
        ("陈小明代签。", "陈小明"),
        ("患者王五和李四同住。", "李四"),
        ("张三和李四", "李四"),
        ("向王华询问病史。", "王华"),
    ],
)
def test_common_names_in_cue_contexts(det: NameDetector, text: str, name: str) -> None:
    assert name in _found(det, text)


@pytest.mark.parametrize(
    "text",
    [
        "家属全程陪同，情绪稳定。",
        "方案签字后开始化疗。",
        "高中老师，已婚。",
        "门诊医师建议复查。",
        "管床医生已告知。",
        "向患者解释病情，患者表示理解。",
        "已向家属解释。",
        "和平医院会诊。",
        "主任查房后指示继续当前方案。",
        "高热，伴寒战。",
        "黄疸，皮肤瘙痒。",
        "周五复查血常规。",
        "余无特殊。",
        "许多患者耐受良好。",
        # an ordinary word after a person word is no name before a verb (these were, before the words were vouched)
        "患者明显好转。",
        "患者全身乏力。",
        "患者平素体健。",
        "患者常规复查。",
        "患者安全出院。",
        "家属全家陪同。",
    ],
)
def test_common_words_near_cues_kept(det: NameDetector, text: str) -> None:
    assert _found(det, text) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Reported by ZHANG San today", "ZHANG San"),
        ("seen by Zhang-San", "Zhang-San"),
        ("call ZHANGSAN back", "ZHANGSAN"),
        ("daughter San Zhang came", "San Zhang"),
        ("patient Zhang Sanfeng, 65y", "Zhang Sanfeng"),
        ("witness Chen Shu Zhen", "Chen Shu Zhen"),
        ("Dr. OUYANG Xiu", "OUYANG Xiu"),
    ],
)
def test_pinyin_names(det: NameDetector, text: str, name: str) -> None:
    assert name in _found(det, text)


@pytest.mark.parametrize(
    "text",
    [
        "病理示高分化腺癌，皮肤巩膜无黄疸，白细胞计数正常，周围型肺癌，血常规未见异常。",
        "四肢关节无红肿，化疗方案为培美曲塞联合顺铂，病理诊断是金标准，于2023年行手术，于我院就诊。",
        "主任查房后指示继续当前方案，采集时间已记录，毛刺征，叶间裂增厚，石蜡包埋，既往史无特殊。",
        "EGFR exon 19 deletion, PD-L1 TPS 60%, Ki-67 30%, He was seen in clinic, Long-term follow-up, CHANGE.",
        "第4R组及7区淋巴结，上海市胸科医院会诊，术后3月复查，王氏征阴性。",
    ],
)
def test_hard_negatives_kept(det: NameDetector, text: str) -> None:
    assert _found(det, text) == []


# Vendors, institutions and places in DICOM fields and report headers (issue 10 review): pinyin that parses
# as a surname and a given name (shang+hai, wan+dong, kang+da) but names no person
@pytest.mark.parametrize(
    "text",
    [
        "SHANGHAI UNITED IMAGING HEALTHCARE",
        "SHEN ZHEN ANKE",
        "WANDONG",
        "Kang Da",
        "Lanxi",
        "BEIJING WANDONG MEDICAL EQUIPMENT CO LTD",
        "Manufacturer: KANGDA",
        "HANGZHOU",
        "Shenzhen Futian",
        "ZHEJIANG UNIVERSITY HOSPITAL",
        "SHEN ZHEN ANKE HIGH TECH CO LTD",
    ],
)
def test_vendor_and_place_pinyin_kept(det: NameDetector, text: str) -> None:
    assert _found(det, text) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("patient He Fei, 52y", "He Fei"),
        ("seen by HU Nan", "HU Nan"),
        ("Wu Han signed", "Wu Han"),
        ("Dr SHEN Zhen", "SHEN Zhen"),
        ("ZHANG San, Medical Oncology", "ZHANG San"),
        ("Reported by ZHANG San today", "ZHANG San"),
    ],
)
def test_names_spelled_like_places_in_syllables_kept_as_names(det: NameDetector, text: str, name: str) -> None:
    # only the one-word form of a place is excluded: in syllables these are common names
    assert name in _found(det, text)


def test_not_names_are_a_data_file() -> None:
    from curation.deid import pinyin

    data = pinyin.not_names()
    assert {"shanghai", "lanxi"} <= data.places and {"wandong", "kangda", "anke"} <= data.brands
    company = {"imaging", "medical", "healthcare", "technology", "co", "ltd", "hospital", "university"}
    assert company <= data.company_words


def test_not_names_file_errors_name_the_key(tmp_path: Path) -> None:
    from curation.deid import pinyin
    from curation.errors import ConfigError

    bad = tmp_path / "not_names.yaml"
    bad.write_text("places: shanghai\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="places must be a list of words"):
        pinyin.not_names(bad)
    bad.write_text("places: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be read as YAML"):
        pinyin.not_names(bad)


def test_bare_surname_is_not_a_name(det: NameDetector) -> None:
    assert _found(det, "Dr. Wang reviewed; Li and Zhang agreed.") == []


def test_targets_on_the_labelled_set() -> None:
    examples = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    assert len(examples) >= 500
    res = evaluate(examples, Scrubber(mrn_patterns=[r"ZY\d{8}", r"MR\d{7}"])).set_index("kind")
    name = res.loc["name_detector"]
    assert name["recall"] >= 0.95, name.to_dict()
    assert name["precision"] >= 0.8, name.to_dict()
    for kind in ("phone", "id_card", "date", "email", "address", "mrn", "name", "staff_name"):
        assert res.loc[kind, "recall"] >= 0.95, (kind, res.loc[kind].to_dict())


# A second set of templates, written after the detector was tuned on labelled_notes.jsonl: its first
# measurement (recall 0.868) exposed gaps the tuned set hid; it guards against tuning to one set.
HELD_OUT = [
    "术前谈话由{D}主持，{R}作为委托人签署同意书。",
    "{P}今晨体温37.8℃，予物理降温，{D}查看病人。",
    "会诊单：请{D}副主任协助诊治{P}的胸腔积液。",
    "{R}（患者之妻）询问预后，已由主管医生{D}解释。",
    "超声引导下穿刺活检，操作医师{D}，助手{D2}。",
    "{P}因经济原因要求转回当地医院继续治疗。",
    "夜班护士{D}发现{P}血氧下降至88%，立即通知值班医师。",
    "门诊随访记录：{P}，靶向治疗第8月，复查稳定。",
    "遗传咨询：{P}的哥哥{R}曾患结肠癌。",
    "出院带药已交给{R}，嘱按时服用。",
    "检验科{D}复核危急值后电话通知{D2}。",
    "{P}自诉乏力，食欲下降，体重减轻5kg。",
    "科室讨论：{D}认为可行手术，{D2}建议先行新辅助治疗。",
    "放射治疗技师{D}完成体位固定，{P}配合良好。",
    "Patient {PY} declined the trial; discussed with Dr {PYD}.",
    "Specimen labelled {PY}, collected by {PYD}.",
    "{P}和{P2}今日同时出院。",
    "药师{D}审核处方发现剂量偏大，已联系{D2}修改。",
    "患儿母亲{R}陪护，情绪稳定。",
    "复印病历申请人：{R}，与患者关系：女儿。",
]


def test_targets_on_held_out_templates() -> None:
    import random
    import re

    from faker import Faker
    from pypinyin import lazy_pinyin

    fake = Faker("zh_CN")
    Faker.seed(4242)
    r = random.Random(99)

    def py(name: str) -> str:
        p = lazy_pinyin(name)
        fam, giv = p[0], "".join(p[1:])
        forms = [f"{fam.title()} {giv.title()}", f"{fam.upper()} {giv.title()}", f"{giv.title()} {fam.title()}"]
        return r.choice(forms)

    examples = []
    for i in range(240):
        values = {
            "P": fake.name(),
            "P2": fake.name(),
            "R": fake.name(),
            "D": fake.name(),
            "D2": fake.name(),
            "PY": py(fake.name()),
            "PYD": py(fake.name()),
        }
        text, spans = "", []
        for part in re.split(r"(\{[A-Z0-9]+\})", HELD_OUT[i % len(HELD_OUT)]):
            if part.startswith("{"):
                value = values[part[1:-1]]
                spans.append({"start": len(text), "end": len(text) + len(value), "kind": "name"})
                text += value
            else:
                text += part
        examples.append({"text": text, "spans": spans})
    res = evaluate(examples, Scrubber()).set_index("kind").loc["name_detector"]
    assert res["recall"] >= 0.95 and res["precision"] >= 0.8, res.to_dict()


# The detector remembers each judgement by the text around the candidate; a judgement remembered from one
# text must be the one a fresh detector makes in another. Contexts that share all but their farthest
# character (联系人：    / 系人：    , （患者 / （患) catch a window one character too short.
_PRE = [
    "同病房的：   ",
    "病房的：   ",
    "联系人：    ",
    "系人：    ",
    "人：    ",
    "   ",
    "患者：",
    "者：",
    "患者",
    "其女",
    "女",
    "",
    "，",
    "由",
    "查体",
    "白细胞",
    "。",
]
_SURNAME = ["王", "张", "欧阳", "白", "史", "于", "女"]
_GIVEN = ["华", "建国", "细胞", "明", "分化", "", "王华"]
_POST = [
    "（患者",
    "（患",
    "（",
    "先生",
    "先",
    "开具",
    "开",
    "，男",
    "，",
    "。",
    "的",
    "同意",
    "医师",
    "签字",
    "3",
    "Zhang San",
]


def test_remembered_judgements_are_fresh_ones() -> None:
    import itertools
    import random

    texts = ["".join(p) for p in itertools.product(["", "一二三四五六七八九十"], _PRE, _SURNAME, _GIVEN, _POST)]
    random.Random(5).shuffle(texts)
    warm = NameDetector()
    for t in texts[:12_000]:
        assert warm.candidates(t) == NameDetector().candidates(t), t


_piece = st.tuples(*(st.sampled_from(p) for p in (_PRE, _SURNAME, _GIVEN, _POST))).map("".join)


@pytest.fixture(scope="module")
def warm() -> NameDetector:
    return NameDetector()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.lists(_piece, min_size=1, max_size=4).map("".join), min_size=1, max_size=4))
def test_remembered_judgements_in_longer_texts(warm: NameDetector, texts: list[str]) -> None:
    for t in texts:
        assert warm.candidates(t) == NameDetector().candidates(t)
