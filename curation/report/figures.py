"""Plotly figure builders for the tabular modalities.

Pure functions: each takes tidy data (pseudonyms only, never identifiers) and returns a
``plotly.graph_objects.Figure``; none shows or saves anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from .i18n import N_

__all__ = [
    "PALETTE",
    "VERDICT_COLORS",
    "category_bars",
    "collection_figures",
    "completeness_heatmap",
    "coverage_matrix",
    "distribution",
    "empty_figure",
    "exposure_summary",
    "km_by_stage",
    "timeliness_bars",
    "translated",
    "treatment_timelines",
    "with_caption",
]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000", "#999999"]
VERDICT_COLORS = {
    "pass": "#009E73",
    "warn": "#E69F00",
    "fail": "#D55E00",
    "error": "#CC79A7",
    "not_applicable": "#999999",
}
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "colorway": PALETTE}


def with_caption(fig: go.Figure, text: str) -> go.Figure:
    """Attach a caption sentence (``layout.meta.caption``; the reports print it under the figure)."""
    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    fig.update_layout(meta={**meta, "caption": text})
    return fig


STAGE_ORDER = ["0", "OC", "I", "II", "III", "IV", "unknown"]


def empty_figure(title: str, note: str = N_("no data")) -> go.Figure:
    """A blank figure titled ``title`` that shows ``note`` (for a chart with no data)."""
    fig = go.Figure()
    fig.update_layout(
        title=title,
        annotations=[{"text": note, "showarrow": False, "font": {"size": 16}}],
        xaxis={"visible": False},
        yaxis={"visible": False},
        **LAYOUT,
    )
    return fig


def completeness_heatmap(df: pd.DataFrame, *, title: str = N_("Completeness by field and site")) -> go.Figure:
    """Field x site heatmap of the fraction present (from :func:`curation.quality.checks.completeness_table`)."""
    if df is None or df.empty:
        return empty_figure(title)
    d = df.assign(label=df["table"].astype(str) + "." + df["field"].astype(str))
    grid = d.pivot_table(index="label", columns="site", values="completeness", aggfunc="first", sort=False)
    cols = [c for c in grid.columns if c != "all"] + (["all"] if "all" in grid.columns else [])
    grid = grid[cols]
    text = grid.map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=cols,
            y=list(grid.index),
            zmin=0,
            zmax=1,
            colorscale="Cividis",
            text=text.to_numpy(),
            texttemplate="%{text}",
            hovertemplate="%{y} @ site %{x}: %{z:.1%}<extra></extra>",
            colorbar={"title": N_("present")},
        )
    )
    fig.update_layout(
        title=title,
        height=max(300, 18 * len(grid) + 120),
        yaxis={"autorange": "reversed"},
        xaxis={"title": N_("site")},
        **LAYOUT,
    )
    return fig


def distribution(
    values: pd.Series,
    *,
    title: str,
    plausible: tuple[float | None, float | None] | None = None,
    unit: str = "",
    nbins: int = 40,
    xlabel: str = "",
) -> go.Figure:
    """Histogram with the plausible range shaded; values outside it stand out in red."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return empty_figure(title)
    lo, hi = plausible or (None, None)
    inside = pd.Series(True, index=v.index)
    if lo is not None:
        inside &= v >= lo
    if hi is not None:
        inside &= v <= hi
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=v[inside], nbinsx=nbins, name=N_("plausible"), marker_color=PALETTE[0]))
    if (~inside).any():
        fig.add_trace(go.Histogram(x=v[~inside], nbinsx=nbins, name=N_("outside range"), marker_color=PALETTE[3]))
    if plausible is not None:
        x0 = lo if lo is not None else float(v.min())
        x1 = hi if hi is not None else float(v.max())
        fig.add_vrect(
            x0=x0,
            x1=x1,
            fillcolor="green",
            opacity=0.08,
            line_width=0,
            annotation_text=N_("plausible range"),
            annotation_position="top left",
        )
    fig.update_layout(
        title=title,
        barmode="overlay",
        xaxis={"title": xlabel or unit or title},
        yaxis={"title": N_("records")},
        **LAYOUT,
    )
    return with_caption(
        fig, N_("Bars count records; the shaded band is the plausible range, values outside it are red.")
    )


def category_bars(
    values: pd.Series, *, title: str, order: Sequence[str] | None = None, by: pd.Series | None = None
) -> go.Figure:
    """Counts per category (missing shown as "(missing)"), optionally stacked by a second variable."""
    s = values.astype("string").fillna("(missing)")
    if s.empty:
        return empty_figure(title)
    cats = list(s.value_counts().index)
    if order:
        cats = [c for c in order if c in set(cats)] + [c for c in cats if c not in set(order)]
    fig = go.Figure()
    if by is None:
        counts = s.value_counts().reindex(cats).fillna(0)
        fig.add_trace(go.Bar(x=cats, y=counts.to_numpy(), marker_color=PALETTE[0]))
    else:
        b = by.astype("string").fillna("(missing)")
        tab = pd.crosstab(s, b).reindex(cats).fillna(0)
        for col in tab.columns:
            fig.add_trace(go.Bar(x=cats, y=tab[col].to_numpy(), name=str(col)))
        fig.update_layout(barmode="stack")
    fig.update_layout(title=title, yaxis={"title": N_("records")}, **LAYOUT)
    return fig


def treatment_timelines(
    treatments: pd.DataFrame,
    diagnosis: pd.Series,
    *,
    n: int = 25,
    seed: int = 0,
    title: str = N_("Treatment timelines (days from diagnosis, sample of patients)"),
) -> go.Figure:
    """One line per sampled patient, one bar per treatment from start to end (days since diagnosis)."""
    if treatments is None or treatments.empty or "treatment_start" not in treatments.columns:
        return empty_figure(title)
    t = treatments.assign(_d=pd.to_datetime(treatments["patient"].map(diagnosis)))
    t = t[t["_d"].notna() & t["treatment_start"].notna()]
    if t.empty:
        return empty_figure(title, N_("no treatment with both a start date and a diagnosis date"))
    patients = pd.Series(t["patient"].unique())
    chosen = patients.sample(min(n, len(patients)), random_state=seed)
    t = t[t["patient"].isin(set(chosen))]
    start = (t["treatment_start"] - t["_d"]) / pd.Timedelta(days=1)
    end = (t["treatment_end"] - t["_d"]) / pd.Timedelta(days=1) if "treatment_end" in t.columns else start
    # one-day events (surgery) and open-ended treatments stay visible: at least a week wide
    end = end.where(end.notna() & (end >= start + 7), start + 7)
    kinds = t.get("treatment_type", pd.Series("treatment", index=t.index)).astype("string").fillna("unknown")
    fig = go.Figure()
    for kind in sorted(kinds.unique()):
        sel = kinds == kind
        fig.add_trace(
            go.Bar(
                y=t.loc[sel, "patient"],
                x=(end - start)[sel],
                base=start[sel],
                orientation="h",
                name=str(kind),
                hovertemplate="%{y}: day %{base:.0f} +%{x:.0f} d<extra>" + str(kind) + "</extra>",
            )
        )
    fig.add_vline(x=0, line_dash="dot", annotation_text="diagnosis")
    fig.update_layout(
        title=title,
        barmode="overlay",
        xaxis={"title": N_("days from diagnosis")},
        yaxis={"title": N_("patient (pseudonym)")},
        height=max(320, 20 * len(chosen) + 120),
        **LAYOUT,
    )
    return fig


def km_by_stage(df: pd.DataFrame, *, title: str = N_("Overall survival by stage (Kaplan-Meier)")) -> go.Figure:
    """Kaplan-Meier curves (lifelines) per stage from columns days, event, stage; 95 % bands."""
    from lifelines import KaplanMeierFitter

    if df is None or df.empty:
        return empty_figure(title)
    d = df[pd.to_numeric(df["days"], errors="coerce").ge(0)]
    if d.empty:
        return empty_figure(title, N_("no patient with a follow-up time"))
    from plotly.colors import hex_to_rgb

    fig = go.Figure()
    stages = [s for s in STAGE_ORDER if s in set(d["stage"])] + sorted(set(d["stage"]) - set(STAGE_ORDER))
    palette = PALETTE
    for k, stage in enumerate(stages):
        color = palette[k % len(palette)]
        r, g, b = hex_to_rgb(color)
        sub = d[d["stage"] == stage]
        if len(sub) < 2:
            continue
        kmf = KaplanMeierFitter().fit(sub["days"].astype(float), sub["event"].astype(bool), label=str(stage))
        sf = kmf.survival_function_
        ci = kmf.confidence_interval_survival_function_
        x = sf.index.to_numpy()
        fig.add_trace(
            go.Scatter(
                x=x,
                y=ci.iloc[:, 1].to_numpy(),
                mode="lines",
                line={"width": 0, "shape": "hv"},
                showlegend=False,
                hoverinfo="skip",
                legendgroup=str(stage),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=ci.iloc[:, 0].to_numpy(),
                mode="lines",
                line={"width": 0, "shape": "hv"},
                fill="tonexty",
                fillcolor=f"rgba({r},{g},{b},0.12)",
                showlegend=False,
                hoverinfo="skip",
                legendgroup=str(stage),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=sf.iloc[:, 0].to_numpy(),
                mode="lines",
                line={"shape": "hv", "color": color},
                name=f"{stage} (n={len(sub)})",
                legendgroup=str(stage),
            )
        )
    if not fig.data:
        return empty_figure(title, N_("fewer than two patients per stage"))
    fig.update_layout(
        title=title,
        xaxis={"title": N_("days from diagnosis")},
        yaxis={"title": N_("survival"), "range": [0, 1.02]},
        **LAYOUT,
    )
    return fig


def exposure_summary(
    df: pd.DataFrame, fields: Sequence[str], *, title: str = N_("Exposures (share of answers)")
) -> go.Figure:
    """Stacked horizontal bars: for each yes/no/unknown exposure field, the share of each answer.

    A missing answer shows its reason when the source gave one (``<field>__missing``: "(unknown)",
    "(not_collected)" ...), else "(missing)".
    """
    rows = []
    for f in fields:
        if f not in df.columns:
            continue
        why = df.get(f"{f}__missing", pd.Series(pd.NA, index=df.index, dtype="string")).astype("string")
        blank = ("(" + why + ")").fillna("(missing)")
        answers = df[f].astype("string").fillna(blank)
        counts = answers.value_counts(normalize=True)
        rows += [{"field": f, "answer": k, "share": v} for k, v in counts.items()]
    if not rows:
        return empty_figure(title)
    d = pd.DataFrame(rows)
    colors = {
        "yes": "#e45756",
        "no": "#54a24b",
        "unknown": "#bab0ac",
        "(unknown)": "#bab0ac",
        "(not_collected)": "#dddddd",
        "(not_applicable)": "#f2f2f2",
        "(pending)": "#c6dbef",
        "(missing)": "#eeeeee",
    }
    fig = go.Figure()
    for answer in [a for a in colors if a in set(d["answer"])] + sorted(set(d["answer"]) - set(colors)):
        sub = d[d["answer"] == answer]
        fig.add_trace(
            go.Bar(y=sub["field"], x=sub["share"], name=str(answer), orientation="h", marker_color=colors.get(answer))
        )
    fig.update_layout(title=title, barmode="stack", xaxis={"title": N_("share"), "tickformat": ".0%"}, **LAYOUT)
    return fig


def _words(msgid: str, language: str) -> str:
    """Figure text (plotly draws it: no switch) in the report's language(s): ``中文 / English`` for both."""
    from .i18n import LANGS, translator

    tr = translator(language)
    texts = [tr.text(msgid, lang) for lang in (LANGS if language == "both" else (language,))]
    return " / ".join(dict.fromkeys(texts))


def translated(fig: go.Figure, *, language: str = "both") -> go.Figure:
    """A copy of ``fig`` with its drawn words in ``language``: the title, axis and legend titles, colour
    bar titles, annotations and trace names that are messages of the catalogue (marked ``N_``).

    Plotly draws these itself, so the page's switch cannot reach them: for both languages they read
    ``中文 / English``. Text that is not a message (a field label, a value) stays as it is.
    """
    from .i18n import catalogue

    zh = catalogue("zh")

    def word(text: object) -> object:
        if isinstance(text, str) and text and zh.gettext(text) != text:
            return _words(text, language)
        return text

    def titled(obj: dict) -> None:
        title = obj.get("title")
        if isinstance(title, dict):
            title["text"] = word(title.get("text"))
        elif isinstance(title, str):
            obj["title"] = {"text": word(title)}

    data = fig.to_plotly_json()
    layout = dict(data.get("layout") or {})
    titled(layout)
    for key, value in layout.items():
        if isinstance(value, dict) and (key.startswith(("xaxis", "yaxis", "legend")) or key == "coloraxis"):
            titled(value)
            if isinstance(value.get("colorbar"), dict):
                titled(value["colorbar"])
    for note in layout.get("annotations") or ():
        note["text"] = word(note.get("text"))
    traces = [dict(t) for t in data.get("data") or ()]
    for trace in traces:
        if "name" in trace:
            trace["name"] = word(trace["name"])
        if isinstance(trace.get("colorbar"), dict):
            titled(trace["colorbar"])
    return go.Figure({"data": traces, "layout": layout})


def collection_figures(sections: dict[str, pd.DataFrame], *, language: str = "both") -> dict[str, go.Figure]:
    """The collection report's figures: records per modality (accepted, quarantined, excluded), checks
    per quality dimension by verdict, quarantined records per reason."""
    from .words import VERDICTS

    w = lambda msgid: _words(msgid, language)  # noqa: E731
    out: dict[str, go.Figure] = {}
    rec = sections.get("reconciliation", pd.DataFrame())
    if len(rec):
        first = rec.drop_duplicates("modality", keep="first")
        fig = go.Figure(
            [
                go.Bar(x=first["modality"], y=first[col], name=w(name), marker_color=color)
                for col, name, color in (
                    ("n_accepted", N_("accepted"), PALETTE[2]),
                    ("n_quarantined", N_("quarantined"), PALETTE[3]),
                    ("n_excluded", N_("excluded"), PALETTE[8]),
                )
            ]
        )
        fig.update_layout(
            title=w(N_("Records per modality at their first stage")),
            barmode="stack",
            xaxis={"title": w(N_("modality"))},
            yaxis={"title": w(N_("records"))},
            height=380,
            **LAYOUT,
        )
        out["reconciliation"] = with_caption(
            fig,
            N_(
                "Records that arrived per modality: accepted, quarantined with a "
                "reason, or excluded by rule; nothing is dropped."
            ),
        )
    q = sections.get("quality_by_dimension", pd.DataFrame())
    if len(q):
        fig = go.Figure(
            [
                go.Bar(x=q["dimension"], y=q[v], name=w(VERDICTS[v]), marker_color=VERDICT_COLORS[v])
                for v in ("fail", "error", "warn", "pass", "not_applicable")
                if v in q and q[v].sum()
            ]
        )
        fig.update_layout(
            title=w(N_("Checks per quality dimension, by verdict")),
            barmode="stack",
            xaxis={"title": w(N_("quality dimension"))},
            yaxis={"title": w(N_("checks"))},
            height=380,
            **LAYOUT,
        )
        out["quality"] = with_caption(
            fig, N_("Every check of every modality, counted by its quality dimension and stacked by verdict.")
        )
    qr = sections.get("quarantine_by_reason", pd.DataFrame())
    if len(qr):
        fig = go.Figure(
            [
                go.Bar(
                    y=sub["reason"],
                    x=sub["records"] + sub["values"],
                    name=str(m),
                    orientation="h",
                    marker_color=PALETTE[i % len(PALETTE)],
                )
                for i, (m, sub) in enumerate(qr.groupby("modality", sort=True))
            ]
        )
        fig.update_layout(
            title=w(N_("Quarantined records and emptied values per reason")),
            barmode="stack",
            xaxis={"title": w(N_("records or values"))},
            yaxis={"title": w(N_("reason")), "automargin": True},
            height=max(320, 22 * qr["reason"].nunique() + 140),
            **LAYOUT,
        )
        out["quarantine"] = with_caption(
            fig, N_("Each reason code counts the records set aside and the values emptied in records that were kept.")
        )
    matrix = sections.get("coverage_matrix", pd.DataFrame())
    if len(matrix):
        out["coverage"] = coverage_matrix(matrix, language=language)
    timely = sections.get("timeliness", pd.DataFrame())
    if len(timely):
        out["timeliness"] = timeliness_bars(timely, language=language)
    return out


def coverage_matrix(matrix: pd.DataFrame, *, language: str = "both") -> go.Figure:
    """The coverage matrix: one row per combination of modalities the patients have (a filled cell per
    modality present), its patient count beside it; the commonest combination on top."""
    from .index import small

    w = lambda msgid: _words(msgid, language)  # noqa: E731
    names = [c for c in matrix.columns if c != "patients"]
    rows = [f"{small(int(n))} · #{i + 1}" for i, n in enumerate(matrix["patients"])]
    z = (matrix[names] == "●").astype(int).to_numpy()  # sections.HAS
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=rows,
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=3,
            ygap=3,
            colorscale=[[0, "#eef1f4"], [1, PALETTE[0]]],
            hovertemplate="%{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=w(N_("Coverage matrix: modalities per patient")),
        xaxis={"title": w(N_("modality")), "side": "top"},
        yaxis={"title": w(N_("patients per combination")), "autorange": "reversed", "automargin": True},
        height=max(260, 24 * len(rows) + 160),
        **LAYOUT,
    )
    return with_caption(
        fig,
        N_(
            "Each row is one combination of modalities (a filled cell: the patients have data in that modality), "
            "labelled with its number of patients (below 5 shown as <5); the commonest combination first."
        ),
    )


def timeliness_bars(df: pd.DataFrame, *, language: str = "both") -> go.Figure:
    """Share of records on time per timeliness check, coloured by the check's verdict."""
    w = lambda msgid: _words(msgid, language)  # noqa: E731
    d = df.dropna(subset=["on_time"])
    fig = go.Figure(
        go.Bar(
            y=d["check_id"],
            x=d["on_time"] * 100,
            orientation="h",
            marker_color=[VERDICT_COLORS.get(str(v), PALETTE[8]) for v in d["verdict"]],
            text=[f"{v:.0%}" for v in d["on_time"]],
            textposition="auto",
            customdata=d[["n_failed", "n_checked"]].to_numpy(),
            hovertemplate="%{y}: %{x:.1f}% (%{customdata[0]} late of %{customdata[1]})<extra></extra>",
        )
    )
    fig.update_layout(
        title=w(N_("Records within their timeliness target")),
        xaxis={"title": w(N_("on time (%)")), "range": [0, 100]},
        yaxis={"title": w(N_("check")), "automargin": True},
        height=max(260, 34 * len(d) + 140),
        **LAYOUT,
    )
    return with_caption(
        fig,
        N_(
            "Per timeliness check, the share of records within the target of cohort.yaml (timeliness); "
            "the colour is the check's verdict."
        ),
    )
