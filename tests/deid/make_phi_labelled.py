"""Regenerate phi_labelled.jsonl: synthetic free text with every identifier labelled.

    .venv/bin/python tests/deid/make_phi_labelled.py

Entirely synthetic (Faker zh_CN, fixed seed): no real person is in it. Templates mimic the
pathology reports, admission notes and follow-up notes the hospitals export, with identifiers in
the shapes seen there (spaces and dashes in phones, lowercase x in resident IDs, full-width
digits, labelled and unlabelled admission numbers).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from faker import Faker

OUT = Path(__file__).with_name("phi_labelled.jsonl")


def _phone(r: random.Random, digits: str) -> str:
    style = r.randrange(5)
    if style == 0:
        return digits
    if style == 1:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if style == 2:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if style == 3:
        return "+86 " + digits
    return digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def _rid(r: random.Random, fake: Faker) -> str:
    rid = fake.ssn()
    return rid[:-1] + "x" if r.random() < 0.2 else rid


def main() -> None:
    fake = Faker("zh_CN")
    Faker.seed(20240501)
    r = random.Random(7)
    rows = []
    for i in range(80):
        name = fake.name()
        addr = fake.address().split(" ")[0]
        phone = fake.phone_number()
        rid = _rid(r, fake)
        mrn = r.choice(["", "ZY", "A"]) + str(r.randrange(10**6, 10**8))
        landline = f"0{r.randrange(10, 999)}-{r.randrange(10**7, 10**8)}"
        ph = _phone(r, phone)
        t = i % 10
        if t == 0:
            text = f"患者{name}，男，住院号：{mrn}。右肺上叶结节，病理示腺癌。联系电话{ph}。"
            phi, known = [name, mrn, ph], [name, mrn]
        elif t == 1:
            text = f"姓名：{name} 身份证号 {rid}，家住{addr}，吸烟30年。"
            phi, known = [name, rid, addr], [name]
        elif t == 2:
            text = f"Specimen from {mrn}: invasive adenocarcinoma, TTF-1 positive, PD-L1 TPS 60%. Call {ph}."
            phi, known = [mrn, ph], []
        elif t == 3:
            text = f"随访：{name}家属（{landline}）告知患者于上月复查，CT示病灶稳定。"
            phi, known = [name, landline], [name]
        elif t == 4:
            text = f"{name}，{r.randrange(40, 85)}岁，病案号{mrn}，地址：{addr}，手机 {ph}"
            phi, known = [name, mrn, addr, ph], [name, addr]
        elif t == 5:
            text = f"送检标本（{mrn}）镜下见癌组织呈腺泡状排列，Ki-67约30%，患者{name}签字。"
            phi, known = [mrn, name], [name]
        elif t == 6:
            text = f"证件号码{rid}，电话：{ph}，e-mail {fake.email()}。"
            email = text.split("e-mail ")[1].rstrip("。")
            phi, known = [rid, ph, email], []
        elif t == 8:
            spaced = f"{rid[:6]} {rid[6:14]} {rid[14:]}"
            text = f"患者{name}（ID {spaced}）既往体健，否认家族史；联系人电话86{phone}。"
            phi, known = [name, spaced, "86" + phone], [name, rid]
        elif t == 9:
            text = f"Pt {mrn} seen by Dr. on follow-up; spouse {name} reachable at {ph}; lives at {addr}."
            phi, known = [mrn, name, ph, addr], [name, addr, mrn]
        else:
            text = f"主诉：咳嗽2月。{name}，现住址 {addr}。门诊号:{mrn}"
            phi, known = [name, addr, mrn], [name, addr]
        rows.append({"text": text, "known": known, "phi": phi})
    OUT.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
