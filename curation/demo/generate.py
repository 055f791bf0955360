"""Generate the demo cohort: roster, site exports, genomics, DICOM, single-cell, cohort.yaml, manifests.

The demo key is derived from the seed so that the same seed gives byte-identical files; it is a
DEMO key, printed as such, and must never protect real data.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import logging
import os
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from ._core import DemoLog
from .consent import withdraw_one

if TYPE_CHECKING:
    import pandas as pd

    from ..deid.keys import Keyring
    from .defects import Planter

__all__ = ["Plan", "default_cohort", "demo_key", "generate", "plan", "write_cohort_yaml", "write_key"]

log_ = logging.getLogger(__name__)

DEFAULT_PATIENTS = 120
DEFAULT_SEED = 7
CACHE_PATIENTS = 40
MIN_PATIENTS = 30
COMPLETE = ".complete"
SITES = [
    {"id": "A", "name": "Demo hospital A (UTF-8 CSV, Chinese headers)", "region": "北京市"},
    {"id": "B", "name": "Demo hospital B (Excel workbooks, English headers)", "region": "上海市"},
    {"id": "C", "name": "Demo hospital C (GB18030 CSV, Chinese headers)", "region": "广东省"},
]
# Generators written by other modules, called when present (signature in _core.py).
EXTERNAL = {
    "imaging": "curation.demo.imaging",
    "immune": "curation.demo.immune",
    "screening": "curation.demo.screening",
}


def write_key(path: Path, key: str) -> Path:
    """Write a key file readable and writable by its owner only (0600), as the run requires.

    The file is created 0600 (never briefly wider) and an existing file is narrowed before it is written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        if os.name == "posix":
            os.fchmod(fh.fileno(), 0o600)
        fh.write(key + "\n")
    return path


def demo_key(seed: int) -> str:
    """The demo's pseudonymization key: 64 hex characters derived from the seed (DEMO ONLY)."""
    return hashlib.sha256(f"curation demo key, not for real data, seed={seed}".encode()).hexdigest()


def _registered() -> set[str]:
    """Modalities this installation can load (one broken plugin must not stop the demo)."""
    from ..modalities import registry

    found = set()
    for name in registry.names():  # imports nothing: each module is tried below
        try:
            registry.spec(name)
        except Exception as exc:  # noqa: BLE001
            log_.warning("demo: modality %s is registered but does not import (%s); its sources are parked", name, exc)
            continue
        found.add(name)
    return found


def _sub_rng(seed: int, stream: int) -> np.random.Generator:
    """Each generator draws from its own stream, so changing one leaves the others' files unchanged."""
    return np.random.default_rng([seed, stream])


@dataclass
class Plan:
    """Everything the generator decided before writing: roster, standard tables, defects."""

    roster: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    planter: Planter
    log: DemoLog
    keyring: Keyring


def plan(*, patients: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED) -> Plan:
    """The roster and the standard tables with their planted defects, before any site writes them."""
    from faker import Faker

    from ..deid.keys import Keyring
    from .defects import plant_tabular
    from .roster import build_roster
    from .tables import clinical_tables, exposure_table, lab_table, pathology_table

    if patients < MIN_PATIENTS:
        msg = (
            f"the demo needs at least {MIN_PATIENTS} patients to plant every defect on its own patient; got {patients}"
        )
        raise ValueError(msg)
    keyring = Keyring(demo_key(seed).encode())
    rng = _sub_rng(seed, 0)
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    log = DemoLog()
    roster = build_roster(patients, rng=rng, faker=faker, keyring=keyring)
    for col in ("name", "name_pinyin", "resident_id", "phone", "address", "mrn", "tumor_sample_id"):
        log.identifier(*roster[col])
    log.identifier(*(p.replace("^", " ") for p in roster["name_pinyin"]))
    trng = _sub_rng(seed, 1)
    tables = {
        **clinical_tables(roster, trng),
        "pathology": pathology_table(roster, trng),
        "exposure": exposure_table(roster, trng),
        "lab": lab_table(roster, trng),
    }
    planter = plant_tabular(roster, tables, rng=_sub_rng(seed, 2), log=log, keyring=keyring)
    return Plan(roster, planter.tables, planter, log, keyring)


def generate(
    out: str | Path,
    *,
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    external: Collection[str] | None = None,
) -> Path:
    """Write a complete demo cohort under ``out`` and return the path of its cohort.yaml.

    Parameters
    ----------
    out
        Folder to write into. An earlier demo there is replaced; a folder holding anything else
        under ``raw/`` is refused.
    patients
        Number of patients, spread evenly over sites A, B and C (at least 30 for every defect).
    seed
        Same seed, same bytes.
    external
        Which of the other modules' generators (imaging, immune) to call; default: every one present.
    """
    from .genomics import write_genomics
    from .sites import write_sites

    out = Path(out)
    raw = out / "raw"
    if raw.exists():
        if not (out / "defects.json").is_file():
            msg = f"{out}: has a raw/ folder that is not a generated demo; choose another --out folder"
            raise FileExistsError(msg)
        shutil.rmtree(raw)
    out.mkdir(parents=True, exist_ok=True)
    (out / "keys").mkdir(exist_ok=True)
    write_key(out / "keys" / "demo.key", demo_key(seed))
    p = plan(patients=patients, seed=seed)
    roster, planter, log, keyring = p.roster, p.planter, p.log, p.keyring
    sources, where = write_sites(planter.tables, out, rng=_sub_rng(seed, 3), log=log, malformed=planter.malformed)
    for d in log.defects:
        if d.id in planter.rows:
            d.record = where.get(planter.rows[d.id][1], "")
    sources.update(write_genomics(roster, out, rng=_sub_rng(seed, 4), log=log, keyring=keyring))
    for stream, (name, module) in enumerate(EXTERNAL.items(), start=5):
        if (external is not None and name not in external) or importlib.util.find_spec(module) is None:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # its optional extra is not installed: the demo goes on without it
            log_.warning("demo: %s data not generated (%s); install curation[%s]", name, exc, name)
            continue
        try:
            # a generator that links its records to the cohort's patients also takes the plan (screening)
            extra = {"plan": p} if "plan" in inspect.signature(mod.generate).parameters else {}
            got = mod.generate(roster, out, rng=_sub_rng(seed, stream), log=log, keyring=keyring, **extra)
        except Exception as exc:  # noqa: BLE001 - one broken generator must not take the whole demo down
            log_.error(
                "demo: the %s generator failed (%s: %s); the demo has no %s data", name, type(exc).__name__, exc, name
            )
            continue
        for modality, entries in (got or {}).items():
            sources.setdefault(modality, []).extend(entries)

    # one patient whose consent is withdrawn: excluded from every modality at load (curation.security.consent)
    withdrawn = withdraw_one(roster, planter.tables, log, modalities=set(sources), exclude=planter.used)
    write_cohort_yaml(out, sources, patients=patients, seed=seed, withdrawn=[withdrawn] if withdrawn else [])
    log.write(out)
    return out / "cohort.yaml"


def write_cohort_yaml(
    out: Path,
    sources: dict[str, list[dict[str, Any]]],
    *,
    patients: int,
    seed: int,
    withdrawn: list[dict[str, str]] | None = None,
) -> Path:
    """cohort.yaml of the demo; sources of modalities this installation does not register are kept
    under ``options.unregistered_sources`` (a cohort.yaml naming an unknown modality does not load)."""
    registered = _registered()
    order = ["clinical", "pathology", "exposure", "lab", "genomics", "imaging", "immune"]
    names = sorted(sources, key=lambda m: (order.index(m) if m in order else len(order), m))
    active = {m: sources[m] for m in names if m in registered}
    parked = {m: sources[m] for m in names if m not in registered}
    options: dict[str, Any] = {
        "demo": True,
        "seed": seed,
        "patients": patients,
        "note": "generated demo cohort; keys/demo.key is a DEMO key, never use it for real data",
    }
    if parked:
        options["unregistered_sources"] = parked
    doc = {
        "cohort": {
            "name": "demo-lung",
            "description": f"Synthetic three-site lung cancer cohort ({patients} patients, "
            f"seed {seed}) with planted defects (defects.json)",
        },
        "sites": SITES,
        "dictionary_version": "1.0",
        "sources": active,
        # every clinical patient must have these (crossmodal.completeness.required_modalities)
        "required_modalities": [m for m in ("pathology", "exposure", "lab") if m in active],
        "output": "out",
        "secret": {"file": "keys/demo.key"},
        **({"consent": {"withdrawn": withdrawn}} if withdrawn else {}),
        # every interoperability export, written into the bundle by the run (lung_panel_v2: 1.2 Mb, for TMB)
        "exports": {"targets": ["fhir", "omop", "cbioportal", "cellxgene"], "panel_size_mb": 1.2},
        "options": options,
    }
    text = "# Generated by `curation demo generate`; edit freely.\n" + yaml.safe_dump(
        doc, allow_unicode=True, sort_keys=False, width=120
    )
    path = out / "cohort.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _cache_root(seed: int) -> Path:
    from .. import __version__

    env = os.environ.get("CURATION_DEMO_CACHE")
    if env:
        return Path(env).expanduser()
    # The registered modalities change what cohort.yaml lists: a new plugin gets a fresh cache.
    tag = hashlib.sha256(",".join(sorted(_registered())).encode()).hexdigest()[:8]
    return Path.home() / ".cache" / "curation" / f"demo-{__version__}-{seed}-{tag}"


def default_cohort(*, seed: int = DEFAULT_SEED) -> Path:
    """The bundled demo cohort (40 patients), generated once into a cache folder and reused.

    The cache is ``$CURATION_DEMO_CACHE`` or ``~/.cache/curation/demo-<version>-<seed>-<tag>``. A
    complete cohort is written into a temporary folder beside it and renamed into place, so
    concurrent callers (parallel notebooks) never see a half-written cohort.
    """
    root = _cache_root(seed)
    if (root / COMPLETE).is_file():
        key = root / "keys" / "demo.key"
        if os.name == "posix" and key.is_file() and key.stat().st_mode & 0o077:
            key.chmod(0o600)  # a cache written before key files had to be owner-only
        return root / "cohort.yaml"
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        generate(tmp, patients=CACHE_PATIENTS, seed=seed)
        (tmp / COMPLETE).write_text("complete\n", encoding="utf-8")
        try:
            os.rename(tmp, root)  # atomic; fails if another caller finished first
        except OSError:
            if not (root / COMPLETE).is_file():
                msg = (
                    f"{root}: exists but holds no complete demo cohort; delete it "
                    "(or set CURATION_DEMO_CACHE to another folder) and retry"
                )
                raise FileExistsError(msg) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root / "cohort.yaml"
