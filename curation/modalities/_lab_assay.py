"""Lab: one tumour marker measured by different assays across sites (issue 13).

Immunoassays of the same marker (CEA on Roche Elecsys, Abbott Architect, Siemens Atellica ...) give
values that differ by tens of percent: pooled across sites without saying so, a cohort's marker
trajectories and cut-offs mix scales. The results table carries the optional ``assay``, ``analyzer``
and ``method`` fields (lab.yaml) when a site exports them; this check flags every marker for which
the sites give more than one assay, naming each site's assay and how many results it holds.
"""

from __future__ import annotations

import pandas as pd

from ..quality import WARN_ONLY, Check, Dimension, Outcome, Severity, failures

ASSAY_FIELDS = ("assay", "analyzer", "method")


def assay_label(df: pd.DataFrame) -> pd.Series:
    """The assay of each result: its assay, analyzer and method joined (``""`` when none is given)."""
    parts = [df[c].astype("string").fillna("").str.strip() for c in ASSAY_FIELDS if c in df.columns]
    if not parts:
        return pd.Series("", index=df.index, dtype="string")
    out = parts[0]
    for p in parts[1:]:
        out = out.str.cat(p, sep=" / ")
    return out.str.replace(r"^( / )+|( / )+$", "", regex=True).str.replace(r"( / )+", " / ", regex=True)


def check_assays_across_sites(df: pd.DataFrame) -> Outcome:
    """Markers measured by more than one assay across the cohort's sites (results without an assay
    are not counted). One failure per marker and site, with the site's assays and result counts."""
    if df.empty or "analyte" not in df.columns:
        return Outcome(0, message="no results")
    label = assay_label(df)
    known = df.assign(_assay=label)[label != ""]
    if known.empty:
        return Outcome(0, message="no assay, analyzer or method given (optional fields of lab.yaml)")
    site = known["site"].astype(str) if "site" in known.columns else pd.Series("", index=known.index)
    counts = known.assign(_site=site).groupby(["analyte", "_site", "_assay"], observed=True).size()
    n_assays = known.groupby("analyte", observed=True)["_assay"].nunique()
    mixed = sorted(str(a) for a in n_assays[n_assays > 1].index)
    fields, rules = [], []
    for analyte in mixed:
        per = counts.loc[analyte]
        everywhere = "; ".join(f"site {s}: {a} ({n})" for (s, a), n in per.items())
        for s in sorted({s for s, _ in per.index}):
            fields.append(f"assay ({analyte}, site {s})")
            rules.append(
                f"{analyte} measured by {n_assays[analyte]} assays across sites ({everywhere}): values are not "
                "comparable without harmonization; analyse by assay or convert"
            )
    return Outcome(
        int(n_assays.size),
        n_failed=len(mixed),
        failures=failures(field=fields, rule=rules),
        message=f"{len(mixed)} of {n_assays.size} markers measured by more than one assay across sites"
        + (f" ({', '.join(mixed)})" if mixed else ""),
    )


ASSAY_CONSISTENCY = Check(
    "consistency.assay_across_sites",
    Dimension.CONSISTENCY,
    lambda data, ctx: check_assays_across_sites(data.tables.get("results", pd.DataFrame())),
    severity=Severity.MINOR,
    threshold=WARN_ONLY,
    description="each tumour marker measured by one assay (assay / analyzer / method) across sites",
)
