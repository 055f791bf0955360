"""Issue 13, item 9: tumour-marker results carry their assay, analyzer and method (optional fields of
lab.yaml), and a marker measured by different assays across sites is flagged. No real lung
tumour-marker table is public (../shared/data/real/README.md): two small LIS exports stand in."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

import curation as cu

KEY = "0123456789abcdef0123456789abcdef"


def _cohort(root: Path, *, assays: dict[str, tuple[str, str]]) -> Path:
    sources = []
    for i, (site, (assay, analyzer)) in enumerate(assays.items()):
        rows = [
            {
                "mrn": f"00{i}{k:04d}",
                "item": marker,
                "result": str(1.5 + k),
                "unit": "ng/mL",
                "collected": f"2024-0{k % 9 + 1}-1{k % 9}",
                "kit": f"{assay} {marker}",
                "instrument": analyzer,
            }
            for k in range(4)
            for marker in ("CEA", "CYFRA21-1")
        ]
        pd.DataFrame(rows).to_csv(root / f"lis_{site}.csv", index=False)
        sources.append(
            {
                "site": site,
                "path": f"lis_{site}.csv",
                "format": "csv",
                "columns": {
                    "mrn": "admission_number",
                    "item": "analyte",
                    "result": "value",
                    "unit": "unit",
                    "collected": "collected_date",
                    "kit": "assay",
                    "instrument": "analyzer",
                },
            }
        )
    (root / "k.key").write_text(KEY)
    (root / "k.key").chmod(0o600)
    cfg = {
        "cohort": {"name": "lab"},
        "sites": [{"id": s} for s in assays],
        "secret": {"file": "k.key"},
        "output": "out",
        "sources": {"lab": sources},
    }
    (root / "cohort.yaml").write_text(yaml.safe_dump(cfg))
    return root / "cohort.yaml"


def test_assay_columns_are_kept_and_mixed_assays_across_sites_flagged(tmp_path: Path) -> None:
    run = cu.curate(
        "lab",
        _cohort(tmp_path, assays={"A": ("Elecsys", "cobas e 601"), "B": ("Architect", "Architect i2000SR")}),
        write=False,
    )
    res = run.data.tables["results"]
    assert set(res["assay"]) == {"Elecsys CEA", "Elecsys CYFRA21-1", "Architect CEA", "Architect CYFRA21-1"}
    assert set(res["analyzer"]) == {"cobas e 601", "Architect i2000SR"}
    c = run.checks.set_index("check_id").loc["lab.consistency.assay_across_sites"]
    assert (c["verdict"], c["n_checked"], c["n_failed"]) == ("warn", 2, 2)
    f = run.failures.query("check_id == 'lab.consistency.assay_across_sites'")
    assert sorted(f["field"]) == [
        "assay (CEA, site A)",
        "assay (CEA, site B)",
        "assay (CYFRA21-1, site A)",
        "assay (CYFRA21-1, site B)",
    ]
    assert (
        f["rule"]
        .str.contains(
            "site A: Elecsys CEA / cobas e 601 (4); site B: Architect CEA / Architect i2000SR (4)", regex=False
        )
        .any()
    )


def test_one_assay_everywhere_passes_and_no_assay_is_not_applicable(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    run = cu.curate(
        "lab", _cohort(tmp_path / "one", assays={"A": ("Elecsys", "cobas"), "B": ("Elecsys", "cobas")}), write=False
    )
    assert run.checks.set_index("check_id").loc["lab.consistency.assay_across_sites", "verdict"] == "pass"
    from curation.modalities._lab_assay import check_assays_across_sites

    assert check_assays_across_sites(pd.DataFrame({"analyte": ["CEA"], "site": ["A"]})).n_checked == 0
