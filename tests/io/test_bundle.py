from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from curation.io.bundle import Bundle, atomic_path


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_manifest_and_datapackage(tmp_path: Path) -> None:
    b = Bundle(tmp_path)
    b.write_parquet("data/clinical/patients.parquet", pd.DataFrame({"patient": ["PT1"], "age": [61]}))
    b.write_text("reports/a.html", "<html></html>")
    b.write_datapackage(name="Demo Cohort")
    b.write_manifest()
    assert b.verify_manifest() == []
    pkg = json.loads((tmp_path / "datapackage.json").read_text())
    [res] = pkg["resources"]
    assert res["path"] == "data/clinical/patients.parquet"
    assert {f["name"]: f["type"] for f in res["schema"]["fields"]} == {"patient": "string", "age": "integer"}
    (tmp_path / "reports/a.html").write_text("tampered")
    assert b.verify_manifest() == ["reports/a.html"]


def test_bundle_refuses_escape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        Bundle(tmp_path / "out").path("../x")


def test_datapackage_describes_dictionary_fields(tmp_path: Path) -> None:
    from curation import dictionary

    b = Bundle(tmp_path)
    b.write_parquet("data/clinical/patients.parquet", pd.DataFrame({"patient": ["PT1"], "sex": ["male"]}))
    b.write_datapackage(name="t", describe=dictionary.describe)
    fields = json.loads((tmp_path / "datapackage.json").read_text())["resources"][0]["schema"]["fields"]
    assert "性别" in {f["name"]: f.get("description", "") for f in fields}["sex"]


def test_text_is_written_the_same_whether_pandas_held_python_or_arrow_strings(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.io.bundle import write_parquet

    arrow = pd.DataFrame({"patient": pd.Series(["PTA", None, "PTB"], dtype="string[pyarrow]"), "n": [1.0, 2.0, None]})
    python = arrow.astype({"patient": "string[python]"})
    write_parquet(tmp_path / "arrow.parquet", arrow)
    write_parquet(tmp_path / "python.parquet", python)
    assert (tmp_path / "arrow.parquet").read_bytes() == (tmp_path / "python.parquet").read_bytes()
    assert pq.read_schema(tmp_path / "arrow.parquet").field("patient").type == pa.string()
