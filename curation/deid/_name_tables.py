"""The name detector's word tables: the cue words before and after a name, the words and characters
that end one, and their affix sets for the hot loops.

Private to :mod:`curation.deid.names`.
"""

from __future__ import annotations

import re

from . import pinyin as _py

# Words before a name that say a person follows (the colon and spaces between are skipped).
PRE_CUES = (
    "患者",
    "病人",
    "病员",
    "患儿",
    "伤者",
    "家属",
    "亲属",
    "陪护",
    "陪同人",
    "联系人",
    "监护人",
    "代理人",
    "委托人",
    "授权人",
    "之子",
    "之女",
    "之父",
    "之母",
    "之妻",
    "之夫",
    "其子",
    "其女",
    "其父",
    "其母",
    "其妻",
    "其夫",
    "其兄",
    "其姐",
    "其弟",
    "其妹",
    "儿子",
    "女儿",
    "父亲",
    "母亲",
    "丈夫",
    "妻子",
    "配偶",
    "爱人",
    "哥哥",
    "姐姐",
    "弟弟",
    "妹妹",
    "孙子",
    "孙女",
    "女婿",
    "儿媳",
    "医师",
    "医生",
    "大夫",
    "主任",
    "主治",
    "教授",
    "护士",
    "护师",
    "技师",
    "药师",
    "审核",
    "复核",
    "审签",
    "签发",
    "报告人",
    "报告者",
    "记录者",
    "记录人",
    "记录",
    "书写者",
    "签名",
    "签字",
    "主刀",
    "术者",
    "助手",
    "一助",
    "二助",
    "麻醉",
    "操作者",
    "操作员",
    "检查者",
    "录入者",
    "录入",
    "送检",
    "取材",
    "诊断",
    "会诊",
    "姓名",
    "病友",
    "同室",
    "邻床",
    "转告",
    "告知",
    "通知",
    "联系",
    "由",
    "经",
    "请",
    "据",
    "交由",
    "嘱",
    "先生",
    "女士",
    "老师",
    "接听人",
    "采集人",
    "送检人",
    "签字人",
    "经办人",
    "见证人",
    "申请人",
    "填表人",
    "核对人",
    "执行人",
    "审核人",
    "同病房的",
    "同室的",
    "邻床的",
    "病房的",
    "我院",
    "外院",
    "本院",
    "科",
    "发现",
    "诊治",
    "看望",
    "探视",
    "安慰",
    "协助",
    "询问",
    "接诊",
    "收治",
    "护送",
    "委托",
)
# Function words before a name that make a clause boundary (因王鹏拒绝手术, 与李华同住).
PRE_FUNC = set("因由与和及经请让给被对向把将嘱令叫是为的、")
# Words after a name that say it was one.
POST_CUES = (
    "先生",
    "女士",
    "小姐",
    "医师",
    "医生",
    "大夫",
    "主任",
    "教授",
    "护士",
    "护师",
    "技师",
    "老师",
    "同志",
    "师傅",
    "之子",
    "之女",
    "之妻",
    "之夫",
    "之父",
    "之母",
    "签字",
    "签名",
    "代签",
    "本人",
    "家属",
    "患者",
    "阿姨",
    "爷爷",
    "奶奶",
    "老人",
    "女儿",
    "儿子",
    "父亲",
    "母亲",
    "丈夫",
    "妻子",
    "同意",
    "陪同",
    "拒绝",
    "要求",
    "表示",
    "诉",
    "述",
    "称",
    "自述",
    "主诉",
    "代述",
    "代诉",
    "已",
    "于",
    "因",
    "，男",
    "，女",
    ",男",
    ",女",
    "(男",
    "(女",
    "（男",
    "（女",
    "男，",
    "女，",
    "男,",
    "女,",
    "(患者",
    "（患者",
    "(家属",
    "（家属",
    "(配偶",
    "（配偶",
)
# Words after a name that vouch for it even when the name starts as an ordinary word (王国强女士, 周五先生,
# 高欢，女): address, kinship, speaking or signing for somebody, sex after a comma. Titles of staff are not
# among them: they follow role words too (门诊医师, 管床医生, 高中老师).
WORD_POST_CUES = (
    "先生",
    "女士",
    "小姐",
    "同志",
    "之子",
    "之女",
    "之妻",
    "之夫",
    "之父",
    "之母",
    "代述",
    "代诉",
    "代签",
    "，男",
    "，女",
    ",男",
    ",女",
    "(男",
    "(女",
    "（男",
    "（女",
)
# ... and these only after a three-character name: a word alone before them is often no person (全程陪同)
WORD3_POST_CUES = ("签字", "签名", "陪同")
# Characters that end a name where they stand (function words, verbs of clinical narrative).
STOP = set(
    "的了是在和与及或于为等示见行后前例性侧叶肺癌部区段级期型度个次年月日天周时分岁男女之其所被把将从到向对给"
    "也都均同共并又再已曾今昨诉述称说讲告签病入出住死医主先护术患院科室床号楼诊治疗查验检测血尿便痛咳热"
    "无有未不非否可能应需要请由经因据以及而但且若如则即就还仍更最很较约近余多上下左右内外低短氏"
    "省市县镇乡村路街巷弄栋座层"
)
# Verbs of clinical narrative that follow a name (王建平耐受可, 李静记录, 贾磊下床活动).
POST_VERBS = (
    "报告",
    "记录",
    "书写",
    "审阅",
    "审核",
    "复核",
    "签发",
    "耐受",
    "开具",
    "下床",
    "出院",
    "入院",
    "住院",
    "换药",
    "参加",
    "陪同",
    "来院",
    "就诊",
    "复查",
    "随访",
    "昨",
    "今",
    "目前",
    "近来",
    "拒绝",
    "要求",
    "表示",
    "同意",
    "接受",
    "咨询",
    "反映",
    "告知",
    "知晓",
    "领取",
    "负责",
    "主持",
    "执行",
    "操作",
    "采集",
    "确认",
    "查房",
    "会诊",
    "手术",
    "治疗",
    "认为",
    "建议",
    "配合",
    "查看",
    "作为",
    "发现",
    "自诉",
    "主诉",
    "协助",
    "询问",
    "解释",
    "指出",
    "提出",
    "考虑",
    "决定",
    "签署",
    "完成",
    "陪护",
    "看护",
    "照顾",
    "携带",
    "因",
    "经",
    "于",
    "在",
    "和",
    "与",
)
# Parts of speech of words that never start a name, even after a person word (主任查房).
_NOT_NAME_TAGS = set("vdpcufmqr")
_SINGLE = frozenset(_py.SURNAMES)
_CUE_WORDS = PRE_CUES + POST_CUES  # 患儿母亲王芳: 母亲 is a cue, not a name starting with the surname 母
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SEP = " \t:："


def _affixes(words: tuple[str, ...]) -> tuple[frozenset[str], tuple[int, ...]]:
    return frozenset(words), tuple(sorted({len(w) for w in words}))


# ``s.endswith(words)`` / ``s.startswith(words)`` as a few set lookups (the tuples hold over a hundred words)
_PRE_CUE_SET, _PRE_CUE_LENS = _affixes(PRE_CUES)
_POST_CUE_SET, _POST_CUE_LENS = _affixes(POST_CUES)
_POST_VERB_SET, _POST_VERB_LENS = _affixes(POST_VERBS)
_NEXT_WORD_SET, _NEXT_WORD_LENS = _affixes(POST_VERBS + POST_CUES)
# a one-character cue word (于, 因) is also a surname (于洋): only longer cue words are never names
_CUE_WORD_SET, _CUE_WORD_LENS = _affixes(tuple(w for w in _CUE_WORDS if len(w) > 1))
_WORD_POST_SET, _WORD_POST_LENS = _affixes(WORD_POST_CUES)
_WORD3_POST_SET, _WORD3_POST_LENS = _affixes(WORD_POST_CUES + WORD3_POST_CUES)
_PRE_CUE_LAST = frozenset(c[-1] for c in PRE_CUES)
_ASCII_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
assert max(_CUE_WORD_LENS) <= 4  # the judgement memo's window and _decide read 4 characters of a cue word


def _ends_with(s: str, words: frozenset[str], lengths: tuple[int, ...]) -> bool:
    # s[-n:] shorter than n is s itself, which ends with itself: still a correct answer
    for n in lengths:  # noqa: SIM110 - the name detector's hot path: a loop beats any() over a generator
        if s[-n:] in words:
            return True
    return False


def _starts_with(s: str, words: frozenset[str], lengths: tuple[int, ...]) -> bool:
    for n in lengths:  # noqa: SIM110 - the name detector's hot path: a loop beats any() over a generator
        if s[:n] in words:
            return True
    return False
