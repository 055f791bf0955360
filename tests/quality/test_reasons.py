"""Reason codes: one list (curation/dictionary/reasons.yaml), the only codes a quarantine accepts,
every code the package writes is in it, and curators can print it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import curation
from curation.dictionary.cli import dictionary as dictionary_cmd
from curation.quality import Quarantine, Reason
from curation.quality.reasons import SCOPES, reasons_frame

ROOT = Path(curation.__file__).parent
# parsed while the module is collected (see tests/quality/test_declarations.py: CPython 3.11.7's AST builder)
_TREES = {
    p.relative_to(ROOT): ast.parse(p.read_text(encoding="utf-8"))
    for p in sorted(ROOT.rglob("*.py"))
    if p.relative_to(ROOT).parts[0] != "demo"
}
CODE = re.compile(r"^[a-z]+(?:_[a-z0-9]+)*$")
# calls whose plain snake_case string arguments are reason codes
SETTERS = re.compile(r"quarantine|set_aside|^_sheet$|^_q$|^Quarantined$|^Damage$|^BadRecord$|^BadLine$")
AT = {"set_reason": 3, "_note": 4}  # the position of the code among these functions' arguments
# `reason` values that are not quarantine or value reasons, each with why
NOT_REASONS = {
    "pixel_decode_failed": "imaging/_image.py: a sampled slice that does not decode, counted by the pixel_data check",
}


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _consts(node: ast.expr | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _consts(node.body) + _consts(node.orelse)
    return []


def _codes_in_source() -> dict[str, str]:
    """Reason codes written in the package: ``reason=...``, assignments to ``reason`` / ``code``,
    ``{"reason": ...}`` rows, ``getattr(exc, "reason", default)``, ``quarantined`` keys and the
    code arguments of the functions that set records aside."""
    found: dict[str, str] = {}
    for path, tree in _TREES.items():
        for node in ast.walk(tree):
            codes: list[str] = []
            if isinstance(node, ast.keyword) and node.arg in ("reason", "code"):
                codes = _consts(node.value)
            elif isinstance(node, ast.keyword) and node.arg == "quarantined" and isinstance(node.value, ast.Dict):
                codes = [c for k in node.value.keys for c in _consts(k)]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets}
                if names & {"reason", "code", "file_reason"}:
                    codes = _consts(node.value)
            elif isinstance(node, ast.Dict):  # a result row: {"reason": ...}
                codes = [
                    c
                    for k, v in zip(node.keys, node.values, strict=True)
                    if _consts(k) == ["reason"]
                    for c in _consts(v)
                ]
            elif isinstance(node, ast.Subscript) and _name(node.value) == "quarantined":
                codes = _consts(node.slice)
            elif isinstance(node, ast.Call):
                name = _name(node.func)
                if name == "getattr" and len(node.args) == 3 and _consts(node.args[1]) == ["reason"]:
                    codes = _consts(node.args[2])
                elif name in AT and len(node.args) > AT[name]:
                    codes = _consts(node.args[AT[name]])
                elif SETTERS.search(name):
                    codes = [c for a in node.args for c in _consts(a) if CODE.match(c)]
            for c in codes:
                if c and c not in NOT_REASONS:
                    found.setdefault(c, f"{path}:{getattr(node, 'lineno', '?')}")
    return found


def test_every_code_the_package_writes_is_a_known_reason() -> None:
    found = _codes_in_source()
    assert len(found) > 30, "the scan found too few codes to be looking in the right places"
    unknown = {c: where for c, where in found.items() if c not in set(Reason)}
    assert not unknown, f"reason codes missing from curation/dictionary/reasons.yaml: {unknown}"


def test_values_emptied_with_a_reason_are_known_reasons() -> None:
    from curation.modalities._clean import _RULE_REASON, NULLED

    assert set(NULLED) | set(_RULE_REASON.values()) | {"invalid_value"} <= set(Reason)


def test_quarantine_accepts_known_reasons_only() -> None:
    q = Quarantine("m")
    q.add(stage="load", source="m[0]", record="line 3", reason="malformed_line")
    q.add(stage="load", source="m[0]", record="F1", reason=Reason("encrypted_workbook"))
    assert q.frame()["reason"].tolist() == ["malformed_line", "encrypted_workbook"]
    with pytest.raises(ValueError, match=r"'bad_line' is not a reason code: add it .*/reasons\.yaml"):
        q.add(stage="load", source="m[0]", record="line 4", reason="bad_line")
    assert len(q) == 2


def test_every_reason_has_a_scope_and_a_description() -> None:
    df = reasons_frame()
    assert len(df) == len(Reason) and df["reason"].is_unique
    assert df["scope"].isin(SCOPES).all() and (df["description"].str.len() > 10).all()
    assert Reason("truncated_gzip").scope == "file" and "gzip" in Reason("truncated_gzip").description


@pytest.mark.parametrize("fmt", ["md", "csv", "html"])
def test_dictionary_lists_the_reasons(fmt: str) -> None:
    res = CliRunner().invoke(dictionary_cmd, ["--reasons", "--format", fmt])
    assert res.exit_code == 0, res.output
    for reason in Reason:
        assert reason.value in res.output
