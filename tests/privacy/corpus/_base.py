"""The corpus builder's core: identities drawn from the seed, identifier-bearing phrases planted in text."""

# ruff: noqa: E501 - rows of Chinese text read best one record per line
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from ._corpus import Table, insert_many
from ._people import (
    ALL_MODALITIES,
    AREA_CODES,
    CONTACTS,
    DOCTORS,
    INTERVIEWERS,
    LAB_STAFF,
    LANDLINE_AREA,
    MAIL_DOMAINS,
    MOBILE_PREFIXES,
    OPERATORS,
    PATHOLOGISTS,
    PATIENTS,
    RADIOLOGISTS,
    RELATIVES_IN_TEXT,
    SITES,
    STREETS,
    Patient,
    Person,
    Truth,
    resident_id,
)


class _Base:
    """Draws identifiers and renders every source; notes each identifier it writes in the truth."""

    def __init__(self, seed: int, planted: bool) -> None:
        self.rng = random.Random(seed)  # identities and structure: the same in both variants
        self.prng = random.Random(seed + 1)  # plants only, so a plant never shifts an identity
        self.seed = seed
        self.planted = planted
        self.truth = Truth()
        self.tables: list[Table] = []
        self.sources: dict[str, list[dict[str, Any]]] = {m: [] for m in ALL_MODALITIES}
        self.files: dict[str, Any] = {}
        self.turn: dict[str, int] = {}
        self.patients = self._patients()
        self.registry_forms: list[tuple[str, str]] = []

    # --------------------------------------------------------------------------- identities
    def _digits(self, n: int, *, first: str = "123456789") -> str:
        return self.rng.choice(first) + "".join(self.rng.choice("0123456789") for _ in range(n - 1))

    def _mobile(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + self._digits(8, first="0123456789")

    def _patients(self) -> list[Patient]:
        out = []
        mrns: set[str] = set()
        for i, person in enumerate(PATIENTS):
            site = "ZJ" if i < 6 else "SC"
            while True:
                mrn = (
                    f"ZY{self.rng.choice([2023, 2024])}-{self._digits(5, first='0123456789')}"
                    if site == "ZJ"
                    else self._digits(10)
                )
                if mrn not in mrns:
                    mrns.add(mrn)
                    break
            birth = dt.date(self.rng.randint(1946, 1972), self.rng.randint(1, 12), self.rng.randint(1, 28))
            seq = self.rng.randrange(100, 999, 2) + (1 if person.sex == "M" else 0)
            street = self.rng.choice(STREETS[site])
            province, city = SITES[site]
            addr = f"{province}{city}{street}{self.rng.randint(3, 399)}号{self.rng.randint(1, 12)}栋{self.rng.randint(1, 28)}0{self.rng.randint(1, 4)}室"
            dx = dt.date(2023, 1, 1) + dt.timedelta(days=self.rng.randint(0, 540))
            out.append(
                Patient(
                    no=i,
                    person=person,
                    site=site,
                    mrn=mrn,
                    outpatient=f"MZ{self._digits(7, first='0123456789')}",
                    resident_id=resident_id(self.rng.choice(AREA_CODES[site]), birth, seq),
                    phone=self._mobile(),
                    landline=f"{LANDLINE_AREA[site]}-{self._digits(8, first='2345678')}",
                    address=addr,
                    birth=birth,
                    email=f"{person.surname_py.lower()}.{person.given_py[:2].lower()}{self.rng.randint(10, 99)}@{self.rng.choice(MAIL_DOMAINS)}",
                    contact=CONTACTS[i],
                    contact_phone=self._mobile(),
                    relative=RELATIVES_IN_TEXT[i],
                    specimen=(
                        f"BL{dx:%y}-{self._digits(5, first='0123456789')}"
                        if site == "ZJ"
                        else f"P{dx:%Y}{self._digits(6)}"
                    ),
                    accession=(f"RX{dx:%y}{self._digits(7)}" if site == "ZJ" else f"CT{self._digits(9)}"),
                    diagnosis=dx,
                )
            )
        return out

    def note(self, value: str, kind: str, place: str) -> str:
        return self.truth.note(value, kind, place)

    def pick(self, key: str, options: Sequence[str]) -> str:
        """Options in turn (every form gets used), starting at a seeded offset."""
        n = self.turn.setdefault(key, self.prng.randrange(len(options)))
        self.turn[key] = n + 1
        return options[n % len(options)]

    # ----------------------------------------------------------------------------- plants
    def snippet(self, p: Patient, place: str, *, latin: bool = False) -> str:
        """One identifier-bearing phrase about patient ``p`` (rotating through phrase kinds and forms)."""
        others = [q for q in self.patients if q is not p]
        other = others[self.prng.randrange(len(others))]
        doctor = self.pick("doctor", [*DOCTORS, *PATHOLOGISTS, *RADIOLOGISTS, *OPERATORS])  # type: ignore[list-item]
        assert isinstance(doctor, Person)
        n = self.note

        def py(person: Person, kind: str) -> str:
            return n(self.pick(f"py:{kind}", person.pinyin_forms()), f"{kind}_pinyin", place)

        if latin:
            phrases = [
                lambda: f"pt {py(p.person, 'patient_name')}",
                lambda: f"cf {py(other.person, 'patient_name')}",
                lambda: f"Dr {py(doctor, 'staff_name')}",
                lambda: f"ref {n(other.mrn, 'mrn', place)}",
                lambda: f"tel {n(self.pick('phone', p.phone_forms())[:20], 'mobile', place)}",
            ]
            return self.pick_call("latin", phrases)
        phrases = [
            lambda: f"患者{n(p.person.name, 'patient_name', place)}",
            lambda: py(p.person, "patient_name"),
            lambda: (
                f"家属{n(p.contact.name, 'relative_name', place)}（{n(self.pick('cphone', p.phone_forms(p.contact_phone)), 'mobile', place)}）签字"
            ),
            lambda: f"主管医师{n(doctor.name, 'staff_name', place)}",
            lambda: f"Dr. {py(doctor, 'staff_name')}",
            lambda: f"同病房{n(other.person.name, 'patient_name', place)}",
            lambda: f"与{py(other.person, 'patient_name')}同批",
            lambda: f"电话{n(self.pick('phone', p.phone_forms()), 'mobile', place)}",
            lambda: f"身份证{n(self.pick('rid', p.id_forms()), 'resident_id', place)}",
            lambda: f"住{n(p.address, 'address', place)}",
            lambda: f"出生{n(self.pick('birth', p.birth_forms()), 'birth_date', place)}",
            lambda: f"原住院号{n(other.mrn, 'mrn', place)}",
            lambda: f"座机{n(self.pick('landline', p.landline_forms()), 'landline', place)}",
            lambda: f"邮箱 {n(p.email, 'email', place)} ",
            lambda: f"{n(doctor.name, 'staff_name', place)}已阅",
            lambda: f"其子{n(p.relative.name, 'relative_name', place)}陪同",
            lambda: f"{n(p.relative.name, 'relative_name', place)}代述",
            lambda: (
                f"门诊号{n(p.outpatient, 'outpatient_id', place)}"
                if p.site == "ZJ"
                else f"本人{n(p.person.name, 'patient_name', place)}"
            ),
            lambda: f"{n(p.mrn, 'mrn', place)}",
        ]
        return self.pick_call("cjk", phrases)

    def pick_call(self, key: str, calls: Sequence[Any]) -> str:
        n = self.turn.setdefault(key, self.prng.randrange(len(calls)))
        self.turn[key] = n + 1
        return str(calls[n % len(calls)]())

    def planted_text(
        self, base: str, p: Patient, place: str, *, k: int = 2, latin: bool = False, limit: int | None = None
    ) -> str:
        """``base`` with ``k`` phrases inserted (the control keeps ``base``)."""
        if not self.planted:
            return base
        items: list[tuple[float, str]] = []
        for _ in range(k):
            phrase = self.snippet(p, place, latin=latin)
            if limit is not None and len(base) + sum(len(v) + 2 for _, v in items) + len(phrase) > limit:
                break
            items.append((self.prng.random(), phrase))
        return insert_many(base, items, clause=True)

    # ----------------------------------------------------------------------------- tables
    def table(self, t: Table, source: dict[str, Any] | None) -> Table:
        self.tables.append(t)
        if source is not None:
            self.sources[t.modality].append(source)
        return t

    def identity(self, p: Patient, place: str) -> None:
        """Identifier fields of a patient row (structural, in both variants)."""
        n = self.note
        n(p.person.name, "patient_name", place)
        n(p.mrn, "mrn", place)
        n(p.resident_id, "resident_id", place)
        n(p.address, "address", place)
        n(p.contact.name, "relative_name", place)
        n(p.contact_phone, "mobile", place)

    def forms(self) -> None:
        """Identifiers the sources list in their own fields, with every form they can take in text."""
        out: list[tuple[str, str]] = []
        for p in self.patients:
            out += [(v, "patient_name") for v in p.person.forms()]
            out += [(v, "relative_name") for v in p.contact.forms()]
            out += [(v, "mobile") for v in p.phone_forms()]
            out += [(v, "mobile") for v in p.phone_forms(p.contact_phone)]
            out += [(v, "resident_id") for v in p.id_forms()]
            out += [(v, "birth_date") for v in p.birth_forms()]
            out += [(p.mrn, "mrn"), (p.address, "address"), (p.specimen, "specimen_id")]
            if p.site == "ZJ":
                out.append((p.outpatient, "outpatient_id"))
        for staff in (*DOCTORS, *PATHOLOGISTS, *LAB_STAFF, *INTERVIEWERS):
            out += [(v, "staff_name") for v in staff.forms()]
        self.registry_forms = list(dict.fromkeys(out))

    def site_patients(self, site: str) -> list[Patient]:
        return [p for p in self.patients if p.site == site]
