"""Regenerate labelled_notes.jsonl: clinical-note sentences with every identifier labelled by span and kind.

    .venv/bin/python tests/deid/make_labelled_notes.py

Built apart from the scrubber so that it measures it rather than mirrors it: names come from Faker
zh_CN and a hand list of rarer names (compound and polyphonic surnames, two-character names), not
from the detector's surname list; the sentences are written as pathology reports, ward rounds,
imaging reports, treatment remarks and follow-up calls, not from the detector's cue words.
About a quarter are hard negatives: clinical text full of surname characters (高分化, 黄疸,
白细胞, 周围, 常规, 关节, 方案, 金标准, 于2023年 ...) and nothing to remove.

Entirely synthetic, fixed seeds: no real person is in it. Each line:
``{"text": ..., "spans": [{"start", "end", "kind", "text"}], "template": n}``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from faker import Faker
from pypinyin import lazy_pinyin

OUT = Path(__file__).with_name("labelled_notes.jsonl")
SITE_MRN_PATTERNS = (r"ZY\d{8}", r"MR\d{7}")

# rarer names a hospital roster holds: compound surnames, surnames read unusually, two characters
RARE_NAMES = [
    "欧阳明远",
    "司马晓峰",
    "诸葛文清",
    "上官婉清",
    "皇甫建业",
    "尉迟春华",
    "慕容雪",
    "令狐思远",
    "东方晓",
    "单雄飞",
    "仇晓梅",
    "解永刚",
    "朴美玲",
    "区志强",
    "查建英",
    "盖立新",
    "覃海燕",
    "缪静怡",
    "翟晓川",
    "阚凯力",
    "佘诗琪",
    "乜小梅",
    "亓玉芬",
    "邝家豪",
    "冼少华",
    "岑嘉怡",
    "靳东阳",
    "逯建平",
    "隗永生",
    "郗冬梅",
    "王芳",
    "李娜",
    "张伟",
    "刘洋",
    "陈静",
    "杨帆",
    "赵敏",
    "黄磊",
    "周杰",
    "吴昊",
    "孙悦",
    "马骏",
    "朱琳",
    "胡斌",
    "郭勇",
    "何平",
    "高峰",
    "林立",
    "罗琦",
    "梁爽",
    "宋佳",
    "唐宁",
    "韩雪",
    "冯涛",
    "曹颖",
    "彭程",
]
SEX_AGE = [("男", 67), ("女", 58), ("男", 72), ("女", 45), ("男", 61), ("女", 39)]

# {P} patient, {P2} another patient, {R} relative, {D} {D2} {D3} staff (Chinese); {PY} patient, {PYR}
# relative, {PYD} staff (pinyin); {PHONE} {PHONE2} {ID} {DATE} {DATE2} {ADDR} {EMAIL} {MRN} {ACC}
TEMPLATES = [
    "病理号{ACC}，送检{P}右肺上叶楔形切除标本，镜下见腺癌，腺泡型为主，报告医师{D}。",
    "{P}，{SEX}，{AGE}岁。大体：灰白组织一块，大小2.5×2×1.5cm。诊断：（左肺下叶）浸润性腺癌。",
    "免疫组化：TTF-1(+)，NapsinA(+)，CK7(+)，P40(-)，Ki-67约20%。初诊医师：{D}  复诊医师：{D2}",
    "Pathologist: {PYD}. Specimen received {DATE} from patient {PY}, MRN {MRN}.",
    "冰冻病理由{D}电话告知手术室，术中家属{R}知情。",
    "{DATE}查房：{P}诉咳嗽较前好转，无发热，{D}主任查房后指示继续当前方案。",
    "患者于{DATE}行第3周期化疗，过程顺利，其女{R}陪同，联系电话{PHONE}。",
    "今日{R}（患者儿子）来院办理出院手续，留电话{PHONE}。",
    "{P}昨夜睡眠差，值班医生{D}予以对症处理。",
    "与家属{R}沟通病情，告知手术风险，家属表示理解并签字。",
    "{D}医生会诊意见：建议完善PET-CT检查。",
    "护理记录：{P}生命体征平稳，责任护士{D}。",
    "检查号：{ACC}。CT平扫+增强：右肺上叶尖段见一磨玻璃结节，大小约1.2cm。报告：{D}，审核：{D2}。",
    "Chest CT for {PY} ({DATE}): 2.1 cm spiculated nodule in RUL. Read by Dr. {PYD}.",
    "PET-CT（{DATE}）：左肺门淋巴结FDG摄取增高，SUVmax 8.6，{D}报告。",
    "影像号{ACC}，{P}，头颅MRI增强未见转移。",
    "培美曲塞+顺铂第2周期，{P}耐受可，{D}开具医嘱。",
    "奥希替尼80mg qd，{DATE}起口服，患者{P}自述皮疹。",
    "免疫治疗前签署知情同意书，签字人：{R}（配偶），身份证号{ID}。",
    "放疗科{D}医师制定放疗计划，总剂量60Gy/30f。",
    "姓名：{P}  性别：{SEX}  年龄：{AGE}岁  住院号：{MRN}",
    "现住址：{ADDR}，联系人{R}，电话{PHONE}。",
    "患者家住{ADDR}，吸烟史30年，每日20支。",
    "身份证{ID}，出生日期{DATE}。",
    "{R}是患者的女儿，在外地工作，邮箱{EMAIL}。",
    "随访：{DATE}电话随访，接听人{R}，患者一般情况可。",
    "Follow-up call to the daughter of {PY}, {PYR}, at {PHONE}; patient stable.",
    "转诊自外院，原主治医师{D}，病历号{MRN}。",
    "{P}与同病房的{P2}均为EGFR突变型肺腺癌。",
    "MDT讨论：胸外科{D}、肿瘤科{D2}、放疗科{D3}参加，意见一致。",
    "Consent signed by {PY} and witnessed by {PYD} on {DATE}.",
    "标本条码{ACC}，采集人{D}，采集时间{DATE}。",
    "{P}的母亲{R}有乳腺癌病史。",
    "复查胸部CT（{DATE}）：病灶较前缩小，疗效评价PR。主治医生：{D}。",
    "{PY} / {MRN} / {DATE} / 右肺上叶腺癌 pT1bN0M0",
    "患者本人{P}要求出院，已告知风险，{D}记录。",
    "家属{R}手机{PHONE}，备用电话{PHONE2}。",
    "因{P}拒绝手术，改行SBRT，放疗医师{D}。",
    "DICOM comments: patient {PY} scanned by {PYD}, accession {ACC}",
    "病情告知：{R}（患者之夫）已知晓，联系地址{ADDR}。",
    "{D}：患者目前化疗后骨髓抑制，复查血常规。",
    "术后第3天，{P}下床活动，引流量减少，{D2}换药。",
    "我院{D}教授远程会诊，考虑小细胞肺癌可能。",
    "{P}先生，既往体健，{DATE}因痰中带血就诊。",
    "{R}女士代患者领取病理报告，电话{PHONE}。",
    "出院小结由{D}书写，{D2}审阅。{P}出院后口服药物。",
    "电子邮箱：{EMAIL}；邮寄地址：{ADDR}",
    "{PY}, {SEXEN}, {AGE}y, admitted {DATE} for cough; attending {PYD}.",
    "外院病理会诊（{ACC}），患者{P}，原单位诊断为腺鳞癌。",
    "血标本{ACC}由{D}采集，送检时间{DATE2}。",
]

NEGATIVES = [
    "病理示高分化腺癌",
    "中低分化鳞状细胞癌",
    "皮肤巩膜无黄染，无黄疸",
    "白细胞计数5.6×10^9/L",
    "周围型肺癌",
    "血常规未见明显异常",
    "四肢关节无红肿",
    "化疗方案为培美曲塞联合顺铂",
    "病理诊断是金标准",
    "于2023年行胸腔镜手术",
    "于我院门诊就诊",
    "双肺纹理增多",
    "纵隔淋巴结未见肿大",
    "左肺上叶舌段见结节",
    "右肺中叶内侧段实变",
    "既往高血压病史10年",
    "既往史无特殊",
    "否认家族遗传病史",
    "肝功能谷丙转氨酶正常",
    "毛玻璃结节边缘清",
    "边缘见毛刺征",
    "邻近胸膜牵拉",
    "可见支气管充气征",
    "叶间裂增厚",
    "石蜡包埋组织切片",
    "苏木精-伊红染色",
    "常规送检病理",
    "关于复查安排已告知",
    "程序性死亡受体配体1表达",
    "马来酸阿法替尼片口服",
    "康复锻炼循序渐进",
    "安罗替尼靶向治疗",
    "吉非替尼耐药后",
    "曲妥珠单抗联合化疗",
    "贝伐珠单抗维持治疗",
    "病灶明显强化",
    "强化程度不均匀",
    "钟形曲线",
    "车间粉尘接触史",
    "石棉暴露史",
    "雷替曲塞二线治疗",
    "毛细血管扩张",
    "右侧胸壁包块",
    "边界清楚",
    "谷草转氨酶轻度升高",
    "金黄色葡萄球菌感染",
    "白色念珠菌阴性",
    "柏油样便",
    "全身骨扫描未见转移",
    "单发结节",
    "双侧胸腔积液",
    "原发灶不明",
    "查体合作",
    "周期性发热",
    "华法林抗凝",
    "常规剂量给药",
    "方向性明确",
    "黄体酮",
    "白蛋白35g/L",
    "高密度影",
    "左侧胸膜增厚",
    "石灰化淋巴结",
    "钙化灶",
    "纵隔窗",
    "肺门增大",
    "江浙地区高发",
    "关节痛加重",
    "程度较轻",
    "夏季易发",
    "冷凝集试验阴性",
    "EGFR exon 19 deletion detected",
    "PD-L1 TPS 60%",
    "Ki-67 approximately 30%",
    "He was seen in clinic today",
    "Long-term follow-up is planned",
    "Lung window shows a nodule",
    "SUVmax 12.5",
    "CEA 5.6 ng/ml",
    "T2N1M0 IIB期",
    "ALK阴性，ROS1阴性",
    "KRAS G12C突变",
    "HER2扩增阴性",
    "MET 14号外显子跳跃突变",
    "淋巴结清扫共12枚",
    "术后病理分期pT1cN0M0",
    "第4R组淋巴结",
    "7区淋巴结转移",
    "上海市胸科医院会诊",
    "术后3月复查",
    "每3周一次",
    "吸氧2L/min",
    "血压130/80mmHg",
    "王氏征阴性",
]


def _pinyin_forms(name: str, r: random.Random) -> str:
    comp = name[:2] in ("欧阳", "司马", "诸葛", "上官", "皇甫", "尉迟", "慕容", "令狐", "东方") and len(name) > 2
    fam, giv = (name[:2], name[2:]) if comp else (name[:1], name[1:])
    f = "".join(lazy_pinyin(fam))
    g = lazy_pinyin(giv)
    gj = "".join(g)
    style = r.randrange(7)
    if style == 0:
        return f"{f.upper()} {gj.title()}"  # ZHANG Sanfeng
    if style == 1:
        return f"{f.title()}-{gj.title()}"  # Zhang-Sanfeng
    if style == 2:
        return f"{f}{gj}".upper()  # ZHANGSANFENG
    if style == 3:
        return f"{gj.title()} {f.title()}"  # Sanfeng Zhang
    if style == 4:
        return f"{f.title()} {gj.title()}"  # Zhang Sanfeng
    if style == 5:
        return f"{f.upper()} {gj.upper()}"  # ZHANG SANFENG
    return f"{f.title()} {' '.join(x.title() for x in g)}"  # Zhang San Feng


def _phone(r: random.Random, fake: Faker) -> str:
    d = fake.phone_number()
    style = r.randrange(6)
    if style == 1:
        return f"{d[:3]}-{d[3:7]}-{d[7:]}"
    if style == 2:
        return f"{d[:3]} {d[3:7]} {d[7:]}"
    if style == 3:
        return "+86 " + d
    if style == 4:
        return d.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if style == 5:
        return f"0{r.randrange(10, 999)}-{r.randrange(10**7, 10**8)}"
    return d


def _date(r: random.Random) -> str:
    y, m, d = r.randrange(1940, 2025), r.randrange(1, 13), r.randrange(1, 29)
    return r.choice(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{y}年{m}月{d}日",
            f"{y}/{m}/{d}",
            f"{y}.{m:02d}.{d:02d}",
            f"{y}{m:02d}{d:02d}",
            f"{d:02d}/{m:02d}/{y}",
        ]
    )


def main() -> None:
    fake = Faker("zh_CN")
    Faker.seed(8675309)
    r = random.Random(20240611)

    def person() -> str:
        return r.choice(RARE_NAMES) if r.random() < 0.25 else fake.name()

    rows = []
    for i in range(480):
        tpl = TEMPLATES[i % len(TEMPLATES)]
        sex, age = r.choice(SEX_AGE)
        values = {
            "P": ("name", person()),
            "P2": ("name", person()),
            "R": ("name", person()),
            "D": ("staff_name", person()),
            "D2": ("staff_name", person()),
            "D3": ("staff_name", person()),
            "PY": ("name", _pinyin_forms(fake.name(), r)),
            "PYR": ("name", _pinyin_forms(person(), r)),
            "PYD": ("staff_name", _pinyin_forms(person(), r)),
            "PHONE": ("phone", _phone(r, fake)),
            "PHONE2": ("phone", _phone(r, fake)),
            "ID": ("id_card", fake.ssn()),
            "DATE": ("date", _date(r)),
            "DATE2": ("date", _date(r)),
            "ADDR": ("address", fake.address().rsplit(" ", 1)[0]),
            "EMAIL": ("email", fake.email()),
            "MRN": ("mrn", r.choice([f"ZY{r.randrange(10**8):08d}", f"MR{r.randrange(10**7):07d}"])),
            "ACC": (
                "accession",
                r.choice(
                    [
                        f"P{r.randrange(18, 25)}-{r.randrange(10**5):05d}",
                        f"CT{r.randrange(2019, 2025)}{r.randrange(10**7):07d}",
                    ]
                ),
            ),
            "SEX": (None, sex),
            "SEXEN": (None, "M" if sex == "男" else "F"),
            "AGE": (None, str(age)),
        }
        text, spans = "", []
        for piece in _split(tpl):
            if piece.startswith("{") and piece.endswith("}"):
                kind, value = values[piece[1:-1]]
                if kind:
                    spans.append({"start": len(text), "end": len(text) + len(value), "kind": kind, "text": value})
                text += value
            else:
                text += piece
        rows.append({"text": text, "spans": spans, "template": i % len(TEMPLATES)})
    for _ in range(160):
        text = "，".join(r.sample(NEGATIVES, r.randrange(2, 4))) + "。"
        rows.append({"text": text, "spans": [], "template": -1})
    OUT.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")


def _split(tpl: str) -> list[str]:
    out, buf, i = [], "", 0
    while i < len(tpl):
        if tpl[i] == "{":
            j = tpl.index("}", i)
            out += [buf, tpl[i : j + 1]]
            buf, i = "", j + 1
        else:
            buf += tpl[i]
            i += 1
    return [*out, buf]


if __name__ == "__main__":
    main()
