"""Genomics checks (sequencing QC, VCF conformance, sample linkage) and figures (QC with thresholds,
driver oncoprint)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import dictionary
from ...quality import Check, CheckResult, Dimension, Outcome, Severity, Threshold, combine, failures, run
from ...quality import checks as qc
from .. import _timeliness as tl
from . import _drivers

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..base import Context, ModalityData

NAME = "genomics"
PATIENT = "patient"
# tumor panels: a mean target depth under 100x misses subclonal calls; Q30 and 100x coverage are
# the usual panel acceptance criteria
DEFAULTS = {"min_depth": 100.0, "min_q30": 80.0, "min_target_100x": 80.0}
CHECK_OF = {"min_depth": "sequencing_depth", "min_q30": "q30", "min_target_100x": "target_100x"}  # limit -> check
QC_THRESHOLD = Threshold(0.0, 0.1)  # a few failing samples warn; more than 10 % fail the batch


def qc_limits(ctx: Context) -> dict[str, float]:
    """QC thresholds: decisions (``genomics.accuracy.sequencing_depth.min_depth`` ...) over source
    options (``min_depth`` ...) over the defaults."""
    from ._options import GenomicsOptions

    out = dict(DEFAULTS)
    for opts in GenomicsOptions.of(ctx.config, NAME):
        out.update({k: float(v) for k, v in opts.model_dump(include=set(DEFAULTS), exclude_none=True).items()})
    for k, check in CHECK_OF.items():
        for key in (f"{NAME}.accuracy.{check}.{k}", f"{NAME}.{k}"):
            if key in ctx.decisions:
                out[k] = float(ctx.decisions[key])
    return out


def sample_limits(ctx: Context, samples: pd.DataFrame, limit: str) -> pd.Series:
    """Each sample's QC limit: a decision on that sample (``genomics.accuracy.<check>.sample.<token>.<limit>``,
    e.g. ``genomics.accuracy.q30.sample.SA3F...min_q30``) over the cohort's limit (:func:`qc_limits`)."""
    prefix, suffix = f"{NAME}.accuracy.{CHECK_OF[limit]}.sample.", f".{limit}"
    own = {
        k[len(prefix) : -len(suffix)]: float(v)
        for k, v in ctx.decisions.items()
        if isinstance(k, str) and k.startswith(prefix) and k.endswith(suffix)
    }
    cohort = qc_limits(ctx)[limit]
    return samples["sample"].astype("string").map(own).astype("float64").fillna(cohort)


def _who(df: pd.DataFrame) -> pd.Series:
    """Pseudonym for failure rows: the patient, else the sample token (an unlinked sample)."""
    return df[PATIENT].astype("string").fillna(df["sample"].astype("string"))


def _below(metric: str, limit: str, unit: str) -> Callable[[ModalityData, Context], Outcome]:
    """Samples whose QC ``metric`` is under its limit (:func:`sample_limits`: the sample's own, else the cohort's)."""

    def check(data: ModalityData, ctx: Context) -> Outcome:
        samples, lim = data.tables["samples"], qc_limits(ctx)[limit]
        own = sample_limits(ctx, samples, limit)
        v = samples[metric]
        present = v.notna()
        bad = (present & (v < own)).astype(bool)
        sub = samples.loc[bad]
        n_own = int((own != lim).sum())
        per_sample = f" ({n_own} sample(s) with their own limit)" if n_own else ""
        return Outcome(
            int(present.sum()),
            failures=failures(
                sub,
                pseudonym=_who(sub),
                field=metric,
                rule=[f"{metric} {x:g}{unit} below {m:g}{unit}" for x, m in zip(v[bad], own[bad], strict=True)],
            ),
            message=f"{int(bad.sum())} of {int(present.sum())} samples with {metric} below {lim:g}{unit}{per_sample}",
        )

    return check


def _conformance(kind: str) -> Callable[[ModalityData, Context], Outcome]:
    """Files whose header problems the reader noted (``data.objects['<kind>_audit']``)."""

    def check(data: ModalityData, ctx: Context) -> Outcome:
        audit = data.objects.get(f"{kind.lower()}_audit")
        if audit is None or not len(audit):
            return Outcome(0, message=f"no {kind} files")
        rows = [(r.get(PATIENT, "") or "", r["file"], p) for r in audit.to_dict("records") for p in r["problems"]]
        n_bad = len({r[1] for r in rows})
        return Outcome(
            len(audit),
            n_failed=n_bad,
            failures=failures(
                pseudonym=[r[0] for r in rows],
                field="header",
                rule=[f"file {r[1]}: {r[2]}; fix the header of this file" for r in rows],
            ),
            message=f"{n_bad} of {len(audit)} {kind} files with header problems",
        )

    return check


def check_linkage(data: ModalityData, ctx: Context) -> Outcome:
    s = data.tables["samples"]
    bad = s[PATIENT].isna()
    sub = s.loc[bad]
    return Outcome(
        len(s),
        failures=failures(
            sub,
            pseudonym=sub["sample"],
            field="sample_id",
            rule="sample not in the sample sheet: add it with its admission number and site (options.sample_sheet)",
        ),
        message=f"{int(bad.sum())} of {len(s)} samples not linked to a patient",
    )


def check_qc_completeness(data: ModalityData, ctx: Context) -> Outcome:
    s = data.tables["samples"]
    required = [
        f.name
        for f in dictionary.fields(NAME, "samples")
        if f.name in ("mean_depth", "pct_q30", "pct_target_100x") and f.required != "optional"
    ]
    frames = []
    for m in required:
        miss = s[m].isna()
        if miss.any():
            sub = s.loc[miss]
            rules = np.where(
                sub["_in_qc"].to_numpy(bool), f"{m} missing in the QC file", "no row for this sample in the QC file"
            )
            frames.append(failures(sub, pseudonym=_who(sub), field=m, rule=rules.tolist()))
    n_bad = int(s[required].isna().any(axis=1).sum()) if required else 0
    return Outcome(len(s), failures=frames, n_failed=n_bad, message=f"{n_bad} of {len(s)} samples miss QC metrics")


def check_ranges(data: ModalityData, ctx: Context) -> Outcome:
    parts = []
    for table, df in data.tables.items():
        ranges = {
            f.name: (f.min, f.max)
            for f in dictionary.fields(NAME, table)
            if f.type in ("integer", "number")
            and (f.min is not None or f.max is not None)
            and f.name in df.columns
            and not f.derived
        }
        parts.append(qc.check_range(df.assign(**{PATIENT: _who(df)}), ranges))
    return combine(parts)


def check_turnaround(data: ModalityData, ctx: Context) -> Outcome:
    """Samples reported more than the target after they were collected (sample-sheet dates)."""
    s = data.tables["samples"]
    s = s.drop(columns=[c for c in ("collection_date", "report_date") if c in s and s[c].isna().all()])  # no sheet date
    return tl.check_delay(
        s,
        "collection_date",
        "report_date",
        max_days=tl.targets(ctx).sequencing_turnaround_days,
        target="timeliness.sequencing_turnaround_days",
        what="sequenced samples",
        supply="add collection_date and report_date columns to the sample sheet (options.sample_sheet)",
        pseudonym=_who(s) if PATIENT in s.columns else None,
    )


CHECKS = (
    Check(
        "accuracy.sequencing_depth",
        Dimension.ACCURACY,
        _below("mean_depth", "min_depth", "x"),
        threshold=QC_THRESHOLD,
        description="mean target depth at least min_depth (default 100x)",
    ),
    Check(
        "accuracy.q30",
        Dimension.ACCURACY,
        _below("pct_q30", "min_q30", "%"),
        threshold=QC_THRESHOLD,
        description="share of bases at Q30 or above at least min_q30 (default 80 %)",
    ),
    Check(
        "accuracy.target_100x",
        Dimension.ACCURACY,
        _below("pct_target_100x", "min_target_100x", "%"),
        threshold=QC_THRESHOLD,
        description="share of the target covered 100x at least min_target_100x (80 %)",
    ),
    qc.SOURCE_EMPTY,
    qc.ANY_ACCEPTED,
    Check(
        "completeness.qc_metrics",
        Dimension.COMPLETENESS,
        check_qc_completeness,
        description="every sample has its QC metrics",
    ),
    Check("conformance.vcf", Dimension.CONFORMANCE, _conformance("VCF"), description="VCF headers"),
    Check(
        "timeliness.turnaround",
        Dimension.TIMELINESS,
        check_turnaround,
        severity=Severity.MINOR,
        threshold=Threshold(0.0, 0.05),
        description="sequencing report within timeliness.sequencing_turnaround_days of sample collection",
    ),
    Check("conformance.maf", Dimension.CONFORMANCE, _conformance("MAF"), description="MAF headers"),
    Check(
        "consistency.sample_linkage",
        Dimension.CONSISTENCY,
        check_linkage,
        description="every sample linked to a patient through the sample sheet",
    ),
    Check(
        "plausibility.range",
        Dimension.ACCURACY,
        check_ranges,
        description="numbers within their field's plausible range",
    ),
)


def checks(data: ModalityData, *, ctx: Context) -> list[CheckResult]:
    return run(CHECKS, data, ctx, modality=NAME, thresholds=ctx.thresholds)


# ------------------------------------------------------------------------------------ figures
def plot_qc(
    samples: pd.DataFrame,
    limits: dict[str, float],
    *,
    title: str = "Sequencing QC per sample (threshold dashed; failing samples red)",
    own: dict[str, pd.Series] | None = None,
) -> go.Figure:
    """One panel per metric: a bar per sample token, the acceptance threshold drawn; ``own``: per limit, each
    sample's own limit (curator decisions, :func:`sample_limits`), which decides its colour."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ...report.figures import empty_figure

    metrics = [
        ("mean_depth", "mean depth (x)", limits["min_depth"]),
        ("pct_q30", "% bases ≥ Q30", limits["min_q30"]),
        ("pct_target_100x", "% target ≥ 100x", limits["min_target_100x"]),
    ]
    s = samples[samples[[m for m, _, _ in metrics]].notna().any(axis=1)].sort_values("sample")
    if s.empty:
        return empty_figure(title, "no QC metrics")
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, subplot_titles=[t for _, t, _ in metrics], vertical_spacing=0.08
    )
    for i, (m, label, limit) in enumerate(metrics, start=1):
        v = s[m]
        key = {"mean_depth": "min_depth", "pct_q30": "min_q30", "pct_target_100x": "min_target_100x"}[m]
        lim = own[key].reindex(s.index).fillna(limit) if own and key in own else limit
        colors = np.where(v < lim, "#e45756", "#4c78a8")
        fig.add_trace(
            go.Bar(
                x=s["sample"],
                y=v,
                marker_color=colors,
                name=label,
                showlegend=False,
                customdata=_who(s),
                hovertemplate="%{x} (%{customdata}): %{y:.4g}<extra>" + label + "</extra>",
            ),
            row=i,
            col=1,
        )
        fig.add_hline(
            y=limit,
            line_dash="dash",
            line_color="#333",
            row=i,
            col=1,
            annotation_text=f"{limit:g}",
            annotation_position="top left",
        )
    fig.update_xaxes(showticklabels=len(s) <= 40, tickangle=-60, row=3, col=1)
    fig.update_layout(title=title, height=720, template="plotly_white", margin={"l": 60, "r": 20, "t": 70, "b": 90})
    return fig


def oncoprint_frame(variants: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Patients x genes: 2 = a driver call, 1 = another variant (PASS), 0 = none; with the label."""
    genes = _drivers.oncoprint_genes()
    tumor = samples.loc[samples["tissue"] != "normal", "sample"]
    v = variants[variants["sample"].isin(tumor) & variants["gene"].isin(genes)]
    v = v[(v["filter"].isin(["PASS", ".", ""])) | v["filter"].isna() | (v["driver"] != "")]
    who = _who(samples.loc[samples["tissue"] != "normal"]).unique().tolist()
    grid = pd.DataFrame(0, index=sorted(who), columns=genes)
    label = pd.DataFrame("", index=grid.index, columns=genes)
    for r in v.assign(who=_who(v)).itertuples(index=False):
        if r.who not in grid.index:
            continue
        level = 2 if r.driver else 1
        if level >= grid.at[r.who, r.gene]:
            grid.at[r.who, r.gene] = level
            text = r.protein_change if isinstance(r.protein_change, str) else r.variant_type
            label.at[r.who, r.gene] = r.driver if r.driver else str(text)
    return grid.join(label, rsuffix="__label")


def plot_oncoprint(frame: pd.DataFrame, *, title: str = "Driver oncoprint (patients x genes)") -> go.Figure:
    import plotly.graph_objects as go

    from ...report.figures import empty_figure

    genes = [c for c in frame.columns if not c.endswith("__label")]
    if frame.empty:
        return empty_figure(title, "no samples")
    # patients with a driver first, then by the number of altered genes
    order = frame[genes].assign(_d=(frame[genes] == 2).any(axis=1), _n=(frame[genes] > 0).sum(axis=1))
    idx = order.sort_values(["_d", "_n"], ascending=False).index
    z = frame.loc[idx, genes].to_numpy()
    text = frame.loc[idx, [f"{g}__label" for g in genes]].to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z.T,
            x=list(idx),
            y=genes,
            zmin=0,
            zmax=2,
            text=text.T,
            xgap=1,
            ygap=1,
            colorscale=[
                [0, "#eeeeee"],
                [0.33, "#eeeeee"],
                [0.34, "#9ecae1"],
                [0.66, "#9ecae1"],
                [0.67, "#d62728"],
                [1, "#d62728"],
            ],
            colorbar={"tickvals": [0, 1, 2], "ticktext": ["none", "other variant", "driver"]},
            hovertemplate="%{x} %{y}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=140 + 28 * len(genes),
        template="plotly_white",
        xaxis={"showticklabels": len(idx) <= 40, "tickangle": -60, "title": "patient"},
        yaxis={"autorange": "reversed"},
        margin={"l": 70, "r": 20, "t": 60, "b": 90},
    )
    return fig


def figures(data: ModalityData, results: list[CheckResult], *, ctx: Context) -> dict[str, go.Figure]:
    from ...report import figures as fig

    v, s = data.tables["variants"], data.tables["samples"]
    drivers = v.loc[v["driver"] != "", "driver"] if len(v) else pd.Series(dtype="string")
    return {
        "Sequencing QC per sample": plot_qc(s, qc_limits(ctx), own={k: sample_limits(ctx, s, k) for k in CHECK_OF}),
        "Driver oncoprint": plot_oncoprint(oncoprint_frame(v, s)),
        "Driver calls": fig.category_bars(drivers, title="Driver calls"),
        "Variant allele fraction": fig.distribution(v["vaf"], title="Variant allele fraction", plausible=(0, 1)),
    }
