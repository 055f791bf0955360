from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.deid.names import NameDetector
from curation.deid.text import Scrubber, evaluate

LABELLED = Path(__file__).with_name("labelled_notes.jsonl")


@pytest.fixture(scope="module")
def det() -> NameDetector:
    return NameDetector()


def _found(det: NameDetector, text: str) -> list[str]:
    return [text[a:b] for a, b in det.find(text) + det.find_pinyin(text)]


@pytest.mark.parametrize(("text", "name"), [
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
])
def test_unknown_chinese_names(det: NameDetector, text: str, name: str) -> None:
    assert name in _found(det, text)


@pytest.mark.parametrize(("text", "name"), [
    ("Reported by ZHANG San today", "ZHANG San"),
    ("seen by Zhang-San", "Zhang-San"),
    ("call ZHANGSAN back", "ZHANGSAN"),
    ("daughter San Zhang came", "San Zhang"),
    ("patient Zhang Sanfeng, 65y", "Zhang Sanfeng"),
    ("witness Chen Shu Zhen", "Chen Shu Zhen"),
    ("Dr. OUYANG Xiu", "OUYANG Xiu"),
])
def test_pinyin_names(det: NameDetector, text: str, name: str) -> None:
    assert name in _found(det, text)


@pytest.mark.parametrize("text", [
    "病理示高分化腺癌，皮肤巩膜无黄疸，白细胞计数正常，周围型肺癌，血常规未见异常。",
    "四肢关节无红肿，化疗方案为培美曲塞联合顺铂，病理诊断是金标准，于2023年行手术，于我院就诊。",
    "主任查房后指示继续当前方案，采集时间已记录，毛刺征，叶间裂增厚，石蜡包埋，既往史无特殊。",
    "EGFR exon 19 deletion, PD-L1 TPS 60%, Ki-67 30%, He was seen in clinic, Long-term follow-up, CHANGE.",
    "第4R组及7区淋巴结，上海市胸科医院会诊，术后3月复查，王氏征阴性。",
])
def test_hard_negatives_kept(det: NameDetector, text: str) -> None:
    assert _found(det, text) == []


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
