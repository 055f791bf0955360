from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.deid.logs import REDACTED, RedactingFilter, install_redacting_handler, redact, redacting_filter


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Leave the process's logging as we found it."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    others = {n: list(logging.getLogger(n).filters) for n in ("pydicom", "papermill", "py.warnings")}
    yield
    logging.captureWarnings(False)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for h in root.handlers:
        h.filters[:] = [f for f in h.filters if not isinstance(f, RedactingFilter)]
    for n, flts in others.items():
        logging.getLogger(n).filters[:] = flts


def test_redact_patterns() -> None:
    text = "住院号123456 患者张三 电话138-1234-5678 ID 11010119900307451X name Zhang^San value 'ZY2023001'"
    out = redact(text)
    for ident in ("123456", "张三", "1234-5678", "11010119900307451X", "Zhang", "ZY2023001"):
        assert ident not in out
    assert redact("electric") == "electric" and REDACTED in out


def test_pydicom_warning_quoting_a_patient_name_is_redacted(clean_logging: None) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.valuerep import validate_value

    handler = install_redacting_handler(known=["Wang Wu"])
    stream = io.StringIO()
    handler.setStream(stream)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # let the warning reach logging instead of failing the test
        validate_value("CS", "Zhang^San", pydicom.config.WARN)  # pydicom: Invalid value for VR CS: 'Zhang^San'.
        validate_value("CS", "张三", pydicom.config.WARN)
    logging.getLogger("curation.test").warning("lookup failed for Wang Wu")
    try:
        raise KeyError("ZY2023001")
    except KeyError:
        logging.getLogger("curation.test").exception("row failed")
    out = stream.getvalue()
    assert "Invalid value for VR CS" in out
    for ident in ("Zhang", "张三", "Wang Wu", "ZY2023001"):
        assert ident not in out
    assert out.count(REDACTED) >= 4


def test_cli_installs_the_handler(clean_logging: None, tmp_path: Path) -> None:
    from curation.cli import cli

    ids = tmp_path / "ids.txt"
    ids.write_text("ZY2023001\n", encoding="utf-8")
    (tmp_path / "bundle").mkdir()
    res = CliRunner().invoke(cli, ["scan-phi", str(tmp_path / "bundle"), "--identifiers", str(ids)])
    assert res.exit_code == 0, res.output
    flt = redacting_filter()
    assert flt is not None
    assert any(isinstance(f, RedactingFilter) for f in logging.getLogger("pydicom").filters)
