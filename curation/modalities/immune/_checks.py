"""The immune checks. Per-sample checks report one failing row per sample, carrying the sample's
patient pseudonym, the sample token as field context and the rule with the numbers."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd

from ...quality import CheckResult, Dimension, Severity, Threshold, failures_frame, make_result
from ..base import Context, ModalityData
from ._ingest import TISSUES

M = "immune"


class Checks:
    def __init__(self, data: ModalityData, ctx: Context) -> None:
        self.data, self.ctx = data, ctx
        self.qc: pd.DataFrame = data.tables.get("qc", pd.DataFrame())
        self.adata = data.objects.get("adata")

    def _per_sample(
        self,
        check_id: str,
        dim: Dimension,
        bad: pd.Series,
        field: str,
        rule: pd.Series,
        *,
        message: str,
        severity: Severity = Severity.MAJOR,
    ) -> CheckResult:
        q = self.qc
        fail = q[bad.to_numpy()] if len(q) else q
        failures = failures_frame(
            check_id,
            M,
            pseudonym=fail.get("patient", []),
            row=fail.index,
            field=[f"{field} (sample {s})" for s in fail.get("sample", [])],
            rule=list(rule[bad.to_numpy()]) if len(q) else [],
        )
        return make_result(check_id, M, dim, n_checked=len(q), failures=failures, message=message, severity=severity)

    def sample_linkage(self) -> CheckResult:
        cid = "immune.completeness.sample_linkage"
        q = self.qc
        if q.empty:
            return make_result(cid, M, Dimension.COMPLETENESS, n_checked=0)
        bad = q["patient"].astype(str) == ""
        return self._per_sample(
            cid,
            Dimension.COMPLETENESS,
            bad,
            "patient",
            pd.Series(["no sample-sheet row / admission number: add the sample to options.samples"] * len(q)),
            message=f"{int(bad.sum())} of {len(q)} samples not linked to a patient",
        )

    def sample_sheet(self) -> CheckResult:
        cid = "immune.conformance.sample_sheet"
        sh: pd.DataFrame = self.data.objects.get("sheets", pd.DataFrame())
        if sh.empty:
            return make_result(cid, M, Dimension.CONFORMANCE, n_checked=0, message="no sample sheet given")
        kr = self.ctx.keyring
        pseudo = [kr.patient(a, site=s) if a else "" for a, s in zip(sh["admission_number"], sh["site"], strict=True)]
        rows, fields, rules, ps = [], [], [], []
        sites = set(self.ctx.site_ids)
        for i, r in sh.reset_index(drop=True).iterrows():
            probs = []
            if r["tissue"] not in TISSUES:
                probs.append(("tissue", f"not one of {', '.join(TISSUES)}"))
            if not r["admission_number"]:
                probs.append(("admission_number", "empty: the sample cannot be linked to a patient"))
            if sites and r["site"] not in sites:
                probs.append(("site", f"not one of the cohort's sites ({', '.join(sorted(sites))})"))
            for f, rule in probs:
                rows.append(int(r["sheet_row"]))
                fields.append(f)
                rules.append(rule)
                ps.append(pseudo[int(i)])
        failures = failures_frame(cid, M, pseudonym=ps, row=rows, field=fields, rule=rules)
        return make_result(
            cid,
            M,
            Dimension.CONFORMANCE,
            n_checked=len(sh),
            failures=failures,
            n_failed=len(set(rows)),
            message=f"{len(set(rows))} of {len(sh)} sample-sheet rows invalid",
        )

    def empty_droplets(self) -> CheckResult:
        cid = "immune.accuracy.empty_droplets"
        q = self.qc
        if q.empty:
            return make_result(cid, M, Dimension.ACCURACY, n_checked=0)
        bad = q["empty_fraction"] > q["max_empty_fraction"]
        rule = q.apply(
            lambda r: (
                f"{r['empty_fraction']:.0%} of barcodes are empty droplets "
                f"(> {r['max_empty_fraction']:.0%}): check cell calling"
            ),
            axis=1,
        )
        return self._per_sample(
            cid,
            Dimension.ACCURACY,
            bad,
            "total_counts",
            rule,
            message=f"{int(bad.sum())} of {len(q)} samples mostly empty droplets",
        )

    def mitochondrial(self) -> CheckResult:
        cid = "immune.accuracy.mitochondrial"
        q = self.qc
        if q.empty:
            return make_result(cid, M, Dimension.ACCURACY, n_checked=0)
        bad = q["high_mt_fraction"] > q["max_high_mt_fraction"]
        rule = q.apply(
            lambda r: (
                f"{r['high_mt_fraction']:.0%} of cells above {r['threshold_max_pct_counts_mt']:.1f}% "
                f"mitochondrial (> {r['max_high_mt_fraction']:.0%}): dying cells or damaged tissue"
            ),
            axis=1,
        )
        return self._per_sample(
            cid,
            Dimension.ACCURACY,
            bad,
            "pct_counts_mt",
            rule,
            message=f"{int(bad.sum())} of {len(q)} samples with many high-mitochondrial cells",
        )

    def doublets(self) -> CheckResult:
        cid = "immune.accuracy.doublets"
        q = self.qc
        if q.empty:
            return make_result(cid, M, Dimension.ACCURACY, n_checked=0)
        # an estimated overall rate (twice the share of cells scoring above the median simulated
        # doublet), not the calls: scrublet's threshold is conservative and homotypic doublets are
        # invisible, so calls understate an overloaded channel
        bad = q["doublet_rate_estimated"] > 2 * q["expected_doublet_rate"]
        rule = q.apply(
            lambda r: (
                f"estimated doublet rate {r['doublet_rate_estimated']:.1%} ({r['doublet_fraction']:.1%} "
                f"called) > 2 x expected {r['expected_doublet_rate']:.0%}: overloaded channel?"
            ),
            axis=1,
        )
        return self._per_sample(
            cid,
            Dimension.ACCURACY,
            bad,
            "doublet_score",
            rule,
            message=f"{int(bad.sum())} of {len(q)} samples with a high doublet rate",
        )

    def cells_after_qc(self) -> CheckResult:
        cid = "immune.completeness.cells_after_qc"
        q = self.qc
        if q.empty:
            return make_result(cid, M, Dimension.COMPLETENESS, n_checked=0)
        bad = q["n_kept"] < q["min_cells"]
        rule = q.apply(lambda r: f"{r['n_kept']} of {r['n_cells']} cells pass QC (< {r['min_cells']})", axis=1)
        return self._per_sample(
            cid,
            Dimension.COMPLETENESS,
            bad,
            "qc_pass",
            rule,
            message=f"{int(bad.sum())} of {len(q)} samples with too few cells after QC",
        )

    def cell_typing(self) -> CheckResult:
        cid = "immune.completeness.cell_typing"
        a = self.adata
        if a is None:
            return make_result(cid, M, Dimension.COMPLETENESS, n_checked=0)
        o = a.obs[a.obs["qc_pass"]]
        un = o["cell_type"].astype(str) == "unassigned"
        per = un.groupby(o["sample"].astype(str), observed=True).mean()
        pat = o.groupby(o["sample"].astype(str), observed=True)["patient"].first().astype(str)
        badS = per[per > 0.3]
        failures = failures_frame(
            cid,
            M,
            pseudonym=pat.reindex(badS.index),
            row=range(len(badS)),
            field=[f"cell_type (sample {s})" for s in badS.index],
            rule=[f"{v:.0%} of passing cells unassigned (> 30%)" for v in badS],
        )
        return make_result(
            cid,
            M,
            Dimension.COMPLETENESS,
            n_checked=len(o),
            n_failed=int(un.sum()),
            failures=failures,
            threshold=Threshold(0.2, 0.5),
            severity=Severity.MINOR,
            message=f"{int(un.sum())} of {len(o)} passing cells unassigned by the marker table",
        )

    def sex(self) -> CheckResult:
        cid = "immune.consistency.sex"
        s: pd.DataFrame = self.data.tables.get("sample_sex", pd.DataFrame())
        if s.empty:
            return make_result(cid, M, Dimension.CONSISTENCY, n_checked=0)
        known = s[s["inferred_sex"] != "unknown"]
        n_sexes = known.groupby("patient")["inferred_sex"].nunique()
        clash = set(n_sexes[n_sexes > 1].index) - {""}
        bad = s[s["patient"].isin(clash)]
        failures = failures_frame(
            cid,
            M,
            pseudonym=bad["patient"],
            row=bad.index,
            field=[f"XIST/chrY (sample {x})" for x in bad["sample"]],
            rule=[f"inferred {x}; the patient's other samples disagree (sample swap?)" for x in bad["inferred_sex"]],
        )
        return make_result(
            cid,
            M,
            Dimension.CONSISTENCY,
            n_checked=len(s),
            failures=failures,
            message=f"{len(clash)} patient(s) whose samples disagree on sex; "
            f"{int((s['inferred_sex'] == 'unknown').sum())} sample(s) undetermined",
        )

    def barcodes(self) -> CheckResult:
        cid = "immune.uniqueness.barcodes"
        d: dict[str, int] = self.data.objects.get("duplicate_barcodes", {})
        q = self.qc.set_index("sample") if len(self.qc) else pd.DataFrame()
        bad = {k: v for k, v in d.items() if v}
        failures = failures_frame(
            cid,
            M,
            pseudonym=[str(q.loc[k, "patient"]) if k in q.index else "" for k in bad],
            row=range(len(bad)),
            field=[f"barcode (sample {k})" for k in bad],
            rule=[f"{v} duplicate barcodes (made unique with a suffix)" for v in bad.values()],
        )
        n = int(self.qc["n_cells"].sum()) if len(self.qc) else 0
        return make_result(cid, M, Dimension.UNIQUENESS, n_checked=n, n_failed=sum(bad.values()), failures=failures)

    def vdj_chain_pairing(self) -> CheckResult:
        cid = "immune.consistency.vdj_chain_pairing"
        a = self.adata
        if a is None or "chain_pairing" not in a.obs:
            return make_result(cid, M, Dimension.CONSISTENCY, n_checked=0, message="no V(D)J data")
        from ._vdj import AMBIGUOUS

        cp = a.obs["chain_pairing"].astype(str)
        has = cp != "no_ir"
        amb = cp.isin(AMBIGUOUS) & has
        return make_result(
            cid,
            M,
            Dimension.CONSISTENCY,
            n_checked=int(has.sum()),
            n_failed=int(amb.sum()),
            threshold=Threshold(0.1, 0.3),
            severity=Severity.MINOR,
            message=f"{int(amb.sum())} of {int(has.sum())} cells with receptor chains not one clean pair",
        )

    def deidentified(self) -> CheckResult:
        """No identifier value seen while loading appears in obs, var or uns of the AnnData."""
        cid = "immune.conformance.deidentified"
        a = self.adata
        ids = {i for i in self.data.identifiers.scan_values() if len(i) >= 4}
        if a is None or not ids:
            return make_result(cid, M, Dimension.CONFORMANCE, n_checked=0)
        places: dict[str, str] = {
            "obs_names": "\n".join(a.obs_names[:: max(1, a.n_obs // 50_000)]),
            "var": "\n".join(a.var_names) + "\n".join(a.var.astype(str).agg(" ".join, axis=1)),
            "uns": json.dumps(_jsonable(dict(a.uns)), default=str),
        }
        for c in a.obs.columns:
            if a.obs[c].dtype == object or isinstance(a.obs[c].dtype, pd.CategoricalDtype):
                places[f"obs.{c}"] = "\n".join(map(str, pd.unique(a.obs[c].astype(str))))
        # whole-token matches only: an admission number "007310" inside a gene id is not a leak
        pat = re.compile(
            r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, sorted(ids, key=len, reverse=True))) + r")(?![A-Za-z0-9])",
            re.IGNORECASE,
        )
        hits = [(where, "identifier value present") for where, text in places.items() if pat.search(text)]
        failures = failures_frame(cid, M, row=range(len(hits)), field=[h[0] for h in hits], rule=[h[1] for h in hits])
        return make_result(
            cid,
            M,
            Dimension.CONFORMANCE,
            n_checked=len(places),
            failures=failures,
            severity=Severity.CRITICAL,
            message="no identifier in obs, var or uns" if not hits else f"identifiers in {len(hits)} place(s)",
        )


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return x.tolist()[:1000]
    if isinstance(x, pd.DataFrame):
        return x.astype(str).to_dict()
    return x
