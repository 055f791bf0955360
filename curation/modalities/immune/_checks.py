"""The immune checks, declared once (:data:`CHECKS`). Per-sample checks report one failing row per
sample, carrying the sample's patient pseudonym, the sample token as field context and the rule
with the numbers."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd

from ...quality import WARN_ONLY, Check, Dimension, Outcome, Severity, Threshold, failures
from ...quality.checks import ANY_ACCEPTED, SOURCE_EMPTY
from .._timeliness import check_processing_delay
from ..base import Context, ModalityData
from ._ingest import TISSUES


def _qc(data: ModalityData) -> pd.DataFrame:
    return data.tables.get("qc", pd.DataFrame())


def _per_sample(q: pd.DataFrame, bad: pd.Series, field: str, rule: pd.Series, *, message: str) -> Outcome:
    """One failure per failing sample: its patient, the sample token as field context, the rule."""
    fail = q[bad.to_numpy()] if len(q) else q
    return Outcome(
        len(q),
        message=message,
        failures=failures(
            pseudonym=fail.get("patient", []),
            row=fail.index,
            field=[f"{field} (sample {s})" for s in fail.get("sample", [])],
            rule=list(rule[bad.to_numpy()]) if len(q) else [],
        ),
    )


def check_sample_linkage(data: ModalityData, ctx: Context) -> Outcome:
    q = _qc(data)
    if q.empty:
        return Outcome(0)
    bad = q["patient"].astype(str) == ""
    return _per_sample(
        q,
        bad,
        "patient",
        pd.Series(["no sample-sheet row / admission number: add the sample to options.samples"] * len(q)),
        message=f"{int(bad.sum())} of {len(q)} samples not linked to a patient",
    )


def check_sample_sheet(data: ModalityData, ctx: Context) -> Outcome:
    sh: pd.DataFrame = data.objects.get("sheets", pd.DataFrame())
    if sh.empty:
        return Outcome(0, message="no sample sheet given")
    kr = ctx.keyring
    pseudo = [kr.patient(a, site=s) if a else "" for a, s in zip(sh["admission_number"], sh["site"], strict=True)]
    rows, fields, rules, ps = [], [], [], []
    sites = set(ctx.site_ids)
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
    return Outcome(
        len(sh),
        n_failed=len(set(rows)),
        failures=failures(pseudonym=ps, row=rows, field=fields, rule=rules),
        message=f"{len(set(rows))} of {len(sh)} sample-sheet rows invalid",
    )


def check_empty_droplets(data: ModalityData, ctx: Context) -> Outcome:
    q = _qc(data)
    if q.empty:
        return Outcome(0)
    bad = q["empty_fraction"] > q["max_empty_fraction"]
    rule = q.apply(
        lambda r: (
            f"{r['empty_fraction']:.0%} of barcodes are empty droplets "
            f"(> {r['max_empty_fraction']:.0%}): check cell calling"
        ),
        axis=1,
    )
    return _per_sample(
        q, bad, "total_counts", rule, message=f"{int(bad.sum())} of {len(q)} samples mostly empty droplets"
    )


def check_mitochondrial(data: ModalityData, ctx: Context) -> Outcome:
    q = _qc(data)
    if q.empty:
        return Outcome(0)
    bad = q["high_mt_fraction"] > q["max_high_mt_fraction"]
    rule = q.apply(
        lambda r: (
            f"{r['high_mt_fraction']:.0%} of cells above {r['threshold_max_pct_counts_mt']:.1f}% "
            f"mitochondrial (> {r['max_high_mt_fraction']:.0%}): dying cells or damaged tissue"
        ),
        axis=1,
    )
    return _per_sample(
        q,
        bad,
        "pct_counts_mt",
        rule,
        message=f"{int(bad.sum())} of {len(q)} samples with many high-mitochondrial cells",
    )


def check_doublets(data: ModalityData, ctx: Context) -> Outcome:
    q = _qc(data)
    if q.empty:
        return Outcome(0)
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
    return _per_sample(
        q, bad, "doublet_score", rule, message=f"{int(bad.sum())} of {len(q)} samples with a high doublet rate"
    )


def check_cells_after_qc(data: ModalityData, ctx: Context) -> Outcome:
    q = _qc(data)
    if q.empty:
        return Outcome(0)
    bad = q["n_kept"] < q["min_cells"]
    rule = q.apply(lambda r: f"{r['n_kept']} of {r['n_cells']} cells pass QC (< {r['min_cells']})", axis=1)
    return _per_sample(
        q, bad, "qc_pass", rule, message=f"{int(bad.sum())} of {len(q)} samples with too few cells after QC"
    )


def check_cell_typing(data: ModalityData, ctx: Context) -> Outcome:
    a = data.objects.get("adata")
    if a is None:
        return Outcome(0)
    o = a.obs[a.obs["qc_pass"]]
    un = o["cell_type"].astype(str) == "unassigned"
    per = un.groupby(o["sample"].astype(str), observed=True).mean()
    pat = o.groupby(o["sample"].astype(str), observed=True)["patient"].first().astype(str)
    bad = per[per > 0.3]
    return Outcome(
        len(o),
        n_failed=int(un.sum()),
        failures=failures(
            pseudonym=pat.reindex(bad.index),
            row=range(len(bad)),
            field=[f"cell_type (sample {s})" for s in bad.index],
            rule=[f"{v:.0%} of passing cells unassigned (> 30%)" for v in bad],
        ),
        message=f"{int(un.sum())} of {len(o)} passing cells unassigned by the marker table",
    )


def check_gene_subset(data: ModalityData, ctx: Context) -> Outcome:
    """Samples whose matrix holds a gene subset and whose empty-droplet floors were scaled to it (the
    reason is the rule); typing and sex inference see only the genes measured."""
    q = _qc(data)
    if q.empty or "gene_subset" not in q:
        return Outcome(0)
    from ._typing import load_markers

    table = load_markers()
    markers = {g for c in table["cell_types"].values() for g in c["markers"]}
    a = data.objects.get("adata")
    names = set(a.var["feature_name"].astype(str)) if a is not None and "feature_name" in a.var else set()
    present = len(markers & names)
    bad = q["floors_note"].fillna("").astype(str) != ""
    rule = q["floors_note"].fillna("").astype(str) + f"; {present} of {len(markers)} marker genes measured"
    n_subset = int(q["gene_subset"].fillna(False).astype(bool).sum())
    return _per_sample(
        q,
        bad,
        "total_counts",
        rule,
        message=f"{n_subset} of {len(q)} samples hold a gene subset (< 10,000 genes); empty-droplet "
        f"floors scaled to it in {int(bad.sum())}; {present} of {len(markers)} marker genes "
        "measured",
    )


def check_sorted_population(data: ModalityData, ctx: Context) -> Outcome:
    """Sorted samples (sample sheet column ``sorted_population``, e.g. CD3+) whose passing cells are
    typed outside the population more often than ``max_outside_population`` (default 10 %)."""
    from ._typing import load_markers, population_types

    q = _qc(data)
    if q.empty or "sorted_population" not in q:
        return Outcome(0, message="no sorted population in the sample sheet (column sorted_population)")
    q = q[q["sorted_population"].fillna("").astype(str).str.strip() != ""]
    if q.empty:
        return Outcome(0, message="no sorted population in the sample sheet (column sorted_population)")
    table = load_markers()
    a = data.objects.get("adata")
    obs = a.obs[a.obs["qc_pass"]] if a is not None else pd.DataFrame(columns=["sample", "cell_type"])
    unassigned = table["unassigned"]["label"]
    rules = []
    n_out = n_typed = 0
    for _, r in q.iterrows():
        pop, limit = str(r["sorted_population"]), float(r["max_outside_population"])
        allowed, unknown = population_types(pop, table)
        if unknown:
            known = ", ".join(table.get("sorted_populations") or {})
            rules.append(
                f"sorted population {pop}: marker(s) {', '.join(unknown)} not in the marker table "
                f"(known: {known}); add it to sorted_populations in immune_markers.yaml"
            )
            continue
        typed = obs.loc[obs["sample"].astype(str) == r["sample"], "cell_type"].astype(str)
        outside = typed[(typed != unassigned) & ~typed.isin(allowed)]
        share = len(outside) / len(typed) if len(typed) else 0.0
        n_out, n_typed = n_out + len(outside), n_typed + len(typed)
        if share <= limit:
            rules.append("")
            continue
        top = ", ".join(f"{k} {v}" for k, v in outside.value_counts().head(4).items())
        rules.append(
            f"{len(outside)} of {len(typed)} passing cells ({share:.0%}) typed outside the sorted "
            f"population {pop} (> {limit:.0%}): {top}; a failed sort, or marker typing that does not "
            "fit these cells"
        )
    rule = pd.Series(rules, index=q.index)
    bad = rule != ""
    return _per_sample(
        q,
        bad,
        "cell_type",
        rule,
        message=f"{int(bad.sum())} of {len(q)} sorted samples with too many cells typed outside their "
        f"population; {n_out} of {n_typed} passing cells of sorted samples typed outside it",
    )


def check_sex(data: ModalityData, ctx: Context) -> Outcome:
    s: pd.DataFrame = data.tables.get("sample_sex", pd.DataFrame())
    if s.empty:
        return Outcome(0)
    known = s[s["inferred_sex"] != "unknown"]
    n_sexes = known.groupby("patient")["inferred_sex"].nunique()
    clash = set(n_sexes[n_sexes > 1].index) - {""}
    bad = s[s["patient"].isin(clash)]
    return Outcome(
        len(s),
        failures=failures(
            pseudonym=bad["patient"],
            row=bad.index,
            field=[f"XIST/chrY (sample {x})" for x in bad["sample"]],
            rule=[f"inferred {x}; the patient's other samples disagree (sample swap?)" for x in bad["inferred_sex"]],
        ),
        message=f"{len(clash)} patient(s) whose samples disagree on sex; "
        f"{int((s['inferred_sex'] == 'unknown').sum())} sample(s) undetermined",
    )


def check_barcodes(data: ModalityData, ctx: Context) -> Outcome:
    d: dict[str, int] = data.objects.get("duplicate_barcodes", {})
    qc = _qc(data)
    q = qc.set_index("sample") if len(qc) else pd.DataFrame()
    bad = {k: v for k, v in d.items() if v}
    return Outcome(
        int(qc["n_cells"].sum()) if len(qc) else 0,
        n_failed=sum(bad.values()),
        failures=failures(
            pseudonym=[str(q.loc[k, "patient"]) if k in q.index else "" for k in bad],
            row=range(len(bad)),
            field=[f"barcode (sample {k})" for k in bad],
            rule=[f"{v} duplicate barcodes (made unique with a suffix)" for v in bad.values()],
        ),
    )


def check_vdj_chain_pairing(data: ModalityData, ctx: Context) -> Outcome:
    a = data.objects.get("adata")
    if a is None or "chain_pairing" not in a.obs:
        return Outcome(0, message="no V(D)J data")
    from ._vdj import AMBIGUOUS

    cp = a.obs["chain_pairing"].astype(str)
    has = cp != "no_ir"
    amb = cp.isin(AMBIGUOUS) & has
    return Outcome(
        int(has.sum()),
        n_failed=int(amb.sum()),
        message=f"{int(amb.sum())} of {int(has.sum())} cells with receptor chains not one clean pair",
    )


def check_vdj_matched(data: ModalityData, ctx: Context) -> Outcome:
    """Samples given V(D)J chains whose barcodes match no cell of the sample (a wrong file in the
    sheet's ``vdj`` column, or barcodes rewritten on one side): their chains are not joined."""
    q = _qc(data)
    if q.empty or "vdj_cells" not in q:
        return Outcome(0, message="no V(D)J data")
    q = q[q["vdj_cells"].notna()]
    if q.empty:
        return Outcome(0, message="no V(D)J data")
    bad = (q["vdj_matched"] == 0) & (q["vdj_cells"] > 0)
    what = {"contigs": "the contig file (sample sheet column vdj)", "h5ad": "the chains carried in the .h5ad"}
    rule = q.apply(
        lambda r: (
            f"none of the {int(r['vdj_cells'])} V(D)J barcodes of {what.get(r['vdj_from'], 'V(D)J')}"
            f" (source {r['source']}) matches a cell of sample {r['sample']}: check that the file "
            "belongs to this sample and that both sides use the same barcodes"
        ),
        axis=1,
    )
    n_cells, n_matched = int(q["vdj_cells"].sum()), int(q["vdj_matched"].sum())
    return _per_sample(
        q,
        bad,
        "vdj",
        rule,
        message=f"{int(bad.sum())} of {len(q)} samples with V(D)J chains match no cell; "
        f"{n_matched} of {n_cells} V(D)J barcodes matched a cell",
    )


def check_deidentified(data: ModalityData, ctx: Context) -> Outcome:
    """No identifier value seen while loading appears in obs, var or uns of the AnnData."""
    a = data.objects.get("adata")
    ids = {i for i in data.identifiers.scan_values() if len(i) >= 4}
    if a is None or not ids:
        return Outcome(0)
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
    return Outcome(
        len(places),
        failures=failures(row=range(len(hits)), field=[h[0] for h in hits], rule=[h[1] for h in hits]),
        message="no identifier in obs, var or uns" if not hits else f"identifiers in {len(hits)} place(s)",
    )


CHECKS = (
    SOURCE_EMPTY,
    ANY_ACCEPTED,
    Check(
        "completeness.sample_linkage",
        Dimension.COMPLETENESS,
        check_sample_linkage,
        description="every sample linked to a patient",
    ),
    Check(
        "conformance.sample_sheet",
        Dimension.CONFORMANCE,
        check_sample_sheet,
        description="sample-sheet rows with a known tissue, an admission number and a cohort site",
    ),
    Check(
        "accuracy.empty_droplets",
        Dimension.ACCURACY,
        check_empty_droplets,
        description="samples not mostly empty droplets",
    ),
    Check(
        "accuracy.mitochondrial",
        Dimension.ACCURACY,
        check_mitochondrial,
        description="samples without many high-mitochondrial (dying) cells",
    ),
    Check(
        "conformance.gene_subset",
        Dimension.CONFORMANCE,
        check_gene_subset,
        threshold=WARN_ONLY,
        severity=Severity.INFO,
        description="matrices holding a gene subset, and the empty-droplet floors scaled to it (with the reason)",
    ),
    Check(
        "accuracy.doublets",
        Dimension.ACCURACY,
        check_doublets,
        description="estimated doublet rate at most twice the expected one",
    ),
    Check(
        "completeness.cells_after_qc",
        Dimension.COMPLETENESS,
        check_cells_after_qc,
        description="enough cells per sample pass QC",
    ),
    Check(
        "completeness.cell_typing",
        Dimension.COMPLETENESS,
        check_cell_typing,
        threshold=Threshold(0.2, 0.5),
        severity=Severity.MINOR,
        description="passing cells assigned a type by the marker table",
    ),
    Check(
        "accuracy.sorted_population",
        Dimension.ACCURACY,
        check_sorted_population,
        description="sorted samples' cells typed inside the population the sample sheet names",
    ),
    Check(
        "consistency.sex",
        Dimension.CONSISTENCY,
        check_sex,
        description="a patient's samples agree on the sex inferred from XIST / chrY",
    ),
    Check("uniqueness.barcodes", Dimension.UNIQUENESS, check_barcodes, description="no duplicate barcodes"),
    Check(
        "completeness.vdj_matched",
        Dimension.COMPLETENESS,
        check_vdj_matched,
        description="every sample given V(D)J chains has barcodes matching its cells",
    ),
    Check(
        "consistency.vdj_chain_pairing",
        Dimension.CONSISTENCY,
        check_vdj_chain_pairing,
        threshold=Threshold(0.1, 0.3),
        severity=Severity.MINOR,
        description="cells with receptor chains form one clean pair",
    ),
    Check(
        "conformance.deidentified",
        Dimension.CONFORMANCE,
        check_deidentified,
        severity=Severity.CRITICAL,
        description="no identifier seen while loading in obs, var or uns",
    ),
    Check(
        "timeliness.processing_delay",
        Dimension.TIMELINESS,
        check_processing_delay,
        severity=Severity.MINOR,
        threshold=Threshold(0.0, 0.05),
        description="library made within timeliness.single_cell_processing_days "
        "of sample collection (sample sheet dates)",
    ),
)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return x.tolist()[:1000]
    if isinstance(x, pd.DataFrame):
        return x.astype(str).to_dict()
    return x
