"""Screening modality: the demo's programme curated once (module scope); indicators recomputed by hand
from their own counts and compared with scikit-learn and statsmodels; planted defects caught by name;
reader ids and participant numbers never written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curation.modalities.screening import _stats as st
from curation.modalities.screening._indicators import PROPORTIONS

sklearn_metrics = pytest.importorskip("sklearn.metrics")
proportion = pytest.importorskip("statsmodels.stats.proportion")


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    import curation
    from curation.demo import generate
    from curation.demo._core import read_defects

    root = tmp_path_factory.mktemp("screening")
    cohort = generate(root / "demo", patients=30, seed=11, external=["screening"])
    run = curation.curate("screening", cohort, out=root / "out")
    return {"run": run, "root": root, "defects": read_defects(root / "demo" / "defects.json")}


def _run(curated: dict[str, object]):  # a Curated
    return curated["run"]


def test_demo_programme_shape(curated: dict[str, object]) -> None:
    t = _run(curated).data.tables
    p = t["participants"]
    assert len(p) >= 600 and set(p["site"]) == {"A", "B", "C"}
    assert set(p["arm"]) == {"combined", "ldct"} and set(p["risk_group"]) == {"high", "non_high"}
    assert set(t["rounds"]["round"]) == {1, 2}
    f = t["followup"]
    assert (f["outcome"] == "no_cancer").sum() >= 300 and (f["outcome"] == "cancer").sum() >= 20
    assert set(t["reads"]["reader_kind"].dropna()) == {"ai", "expert"}
    assert _run(curated).quarantine.empty


def test_planted_defects_are_caught_by_name(curated: dict[str, object]) -> None:
    planted = [d for d in curated["defects"] if d.modality == "screening"]  # type: ignore[attr-defined]
    defects = [d for d in planted if d.expect.startswith("screening.")]
    assert len(defects) == 5
    # one per link to clinical, pathology, imaging and lab: caught by crossmodal (tests/test_defects.py)
    assert sorted(d.expect for d in planted if d not in defects) == [
        f"crossmodal.consistency.{k}"
        for k in sorted(
            [
                "screen_cancer_in_clinical",
                "screen_cancer_in_pathology",
                "screen_no_cancer_not_in_clinical",
                "screen_ldct_in_imaging",
                "screen_marker_in_lab",
            ]
        )
    ]
    f = _run(curated).failures
    for d in defects:
        hit = f[(f["check_id"] == d.expect) & (f["pseudonym"] == d.pseudonym)]
        assert len(hit), f"{d.kind}: {d.expect} did not name {d.pseudonym}"


def test_accuracy_recomputed_from_counts(curated: dict[str, object]) -> None:
    from curation.modalities import screening

    run = _run(curated)
    acc = screening.indicators(run.data, ctx=run.ctx).accuracy
    two_by_two = acc[acc["indicator"].isin(list(PROPORTIONS))]
    assert len(two_by_two) > 50
    for r in two_by_two.itertuples():
        num, den = PROPORTIONS[r.indicator]
        cells = {"tp": r.tp, "fp": r.fp, "tn": r.tn, "fn": r.fn}
        k = sum(cells[c] for c in (num if isinstance(num, tuple) else (num,)))
        n = sum(cells[c] for c in den)
        assert (r.numerator, r.denominator) == (k, n), r
        assert r.tp + r.fp + r.tn + r.fn == r.n
        if n:
            assert r.estimate == pytest.approx(k / n)
            # Wilson by hand
            z = 1.959963984540054
            p = k / n
            centre = (p + z * z / (2 * n)) / (1 + z * z / n)
            half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
            assert (r.ci_low, r.ci_high) == pytest.approx((centre - half, centre + half), abs=1e-9)
            lo, hi = proportion.proportion_confint(k, n, alpha=0.05, method="wilson")
            assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi))
            assert r.boot_low <= r.estimate + 1e-9 and r.estimate - 1e-9 <= r.boot_high


def test_screening_counts_agree_with_sklearn(curated: dict[str, object]) -> None:
    from curation.modalities import screening
    from curation.modalities.screening._indicators import round_truth
    from curation.modalities.screening._options import indicator_options

    run = _run(curated)
    rounds = round_truth(run.data.tables, indicator_options(run.ctx.config))
    k = rounds[rounds["known"] & rounds["has_result"]]
    tn, fp, fn, tp = sklearn_metrics.confusion_matrix(k["truth"], k["positive"]).ravel()
    acc = screening.indicators(run.data, ctx=run.ctx).accuracy
    row = acc[(acc["indicator"] == "sensitivity") & (acc["test"] == "screening") & (acc["stratum"] == "overall")]
    assert (row[["tp", "fp", "tn", "fn"]].to_numpy()[0] == [tp, fp, tn, fn]).all()
    assert row["estimate"].iloc[0] == pytest.approx(sklearn_metrics.recall_score(k["truth"], k["positive"]))
    ppv = acc[(acc["indicator"] == "ppv") & (acc["test"] == "screening") & (acc["stratum"] == "overall")]
    assert ppv["estimate"].iloc[0] == pytest.approx(sklearn_metrics.precision_score(k["truth"], k["positive"]))


def test_agreement_and_auc_agree_with_sklearn(curated: dict[str, object]) -> None:
    from curation.modalities import screening
    from curation.modalities.screening._indicators import participant_truth, round_truth
    from curation.modalities.screening._options import indicator_options

    run = _run(curated)
    ind = screening.indicators(run.data, ctx=run.ctx)
    pairs = ind.pairs
    assert pairs is not None
    agr = ind.agreement[ind.agreement["stratum"] == "overall"].set_index("indicator")
    lr = pairs.dropna(subset=["read_lung_rads_ai", "read_lung_rads_expert"])
    order = {c: i for i, c in enumerate(["0", "1", "2", "3", "4A", "4B", "4X"])}
    want = sklearn_metrics.cohen_kappa_score(
        lr["read_lung_rads_ai"].map(order),
        lr["read_lung_rads_expert"].map(order),
        weights="linear",
        labels=list(range(7)),
    )
    assert agr.loc["kappa_lung_rads", "estimate"] == pytest.approx(want)
    lo, hi = agr.loc["kappa_lung_rads", ["ci_low", "ci_high"]]
    assert lo < want < hi
    nt = pairs.dropna(subset=["nodule_type_ai", "nodule_type_expert"])
    assert agr.loc["kappa_nodule_type", "estimate"] == pytest.approx(
        sklearn_metrics.cohen_kappa_score(nt["nodule_type_ai"], nt["nodule_type_expert"])
    )
    # Bland-Altman by hand
    d = (pairs["size_mm_ai"] - pairs["size_mm_expert"]).astype(float).dropna()
    assert agr.loc["ba_bias_size_mm", "estimate"] == pytest.approx(d.mean())
    assert agr.loc["ba_loa_high_size_mm", "estimate"] == pytest.approx(d.mean() + 1.959963984540054 * d.std(ddof=1))
    # AUC of each marker and of the risk score
    opts = indicator_options(run.ctx.config)
    rounds = round_truth(run.data.tables, opts)
    disc = ind.discrimination[ind.discrimination["stratum"] == "overall"].set_index("test")
    b = run.data.tables["biomarkers"].merge(rounds[["patient", "round", "truth", "known"]], on=["patient", "round"])
    b = b[b["known"] & b["value"].notna()]
    for marker, g in b.groupby("marker"):
        assert disc.loc[marker, "estimate"] == pytest.approx(sklearn_metrics.roc_auc_score(g["truth"], g["value"]))
        assert disc.loc[marker, "ci_low"] < disc.loc[marker, "estimate"] < disc.loc[marker, "ci_high"]
    pt = participant_truth(run.data.tables, rounds, opts)
    pt = pt[pt["truth_known"]]
    assert disc.loc["risk_score", "estimate"] == pytest.approx(
        sklearn_metrics.roc_auc_score(pt["truth"], pt["risk_score"])
    )


def test_icc_matches_two_way_anova() -> None:
    """ICC(2,1) (Shrout-Fleiss) from the five sums equals the two-way ANOVA computed the long way."""
    rng = np.random.default_rng(0)
    true = rng.gamma(3, 3, size=200)
    x, y = true + rng.normal(0.3, 1, 200), true + rng.normal(0, 1, 200)
    data = np.stack([x, y], axis=1)
    n, k = data.shape
    grand = data.mean()
    msr = k * ((data.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((data.mean(axis=0) - grand) ** 2).sum() / (k - 1)
    sse = ((data - data.mean(axis=1, keepdims=True) - data.mean(axis=0, keepdims=True) + grand) ** 2).sum()
    mse = sse / ((n - 1) * (k - 1))
    want = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    assert st.bland_altman(x, y)["icc"] == pytest.approx(want)
    boot = st.icc_boot(x, y, np.ones((n, 1), dtype=bool), b=200, rng=rng)
    lo, hi = st.percentile(boot[:, 0])
    assert lo < want < hi


def test_vectorized_bootstraps_are_resamples() -> None:
    """The multinomial shortcuts are the case-resampling bootstrap: a resample's AUC from the bins
    equals scikit-learn's AUC with the resample's multiplicities as weights."""
    rng = np.random.default_rng(1)
    truth = rng.random(300) < 0.2
    score = np.round(rng.normal(truth * 1.0, 1.0), 1)  # rounded: ties between classes
    assert st.auc(score, truth) == pytest.approx(sklearn_metrics.roc_auc_score(truth, score))
    w = rng.integers(0, 3, size=300)
    w[np.flatnonzero(truth)[0]] = 1
    w[np.flatnonzero(~truth)[0]] = 1
    rep = np.repeat(np.arange(300), w)
    assert st.auc(score[rep], truth[rep]) == pytest.approx(sklearn_metrics.roc_auc_score(truth, score, sample_weight=w))
    draws = st.auc_boot(score, truth, b=2000, rng=rng)
    assert abs(np.nanmean(draws) - st.auc(score, truth)) < 0.01
    c = np.array([[30, 5, 1], [4, 40, 6], [0, 3, 20]])
    a = np.repeat([0, 0, 0, 1, 1, 1, 2, 2, 2], c.ravel())
    b = np.repeat([0, 1, 2, 0, 1, 2, 0, 1, 2], c.ravel())
    assert st.kappa(c, weights="quadratic") == pytest.approx(
        sklearn_metrics.cohen_kappa_score(a, b, weights="quadratic")
    )
    kb = st.kappa_boot(c, weights="linear", b=2000, rng=rng)
    assert abs(kb.mean() - st.kappa(c, weights="linear")) < 0.02


def test_median_interval_covers() -> None:
    med, lo, hi = st.median_ci(np.arange(1, 102, dtype=float))
    assert med == 51 and lo < 51 < hi and hi - lo < 25


def test_targets_and_sample_size_warning(curated: dict[str, object]) -> None:
    from curation.modalities import screening

    run = _run(curated)
    c = run.checks.set_index("check_id")
    v = screening.verdicts(run.data, ctx=run.ctx)
    assert list(v.columns[:2]) == ["verdict", "indicator"]
    sens = v[v["indicator"] == "sensitivity"].iloc[0]
    assert c.loc["screening.indicator.sensitivity", "verdict"] == ("pass" if sens["estimate"] >= 0.8 else "fail")
    assert c.loc["screening.precision.ci_width", "verdict"] == "warn"  # per-site groups are small


def test_options_are_typed(tmp_path: Path) -> None:
    from curation.errors import ConfigError
    from curation.modalities import registry

    ok = registry.source_options("screening", {"indicators": {"targets": {"sensitivity": 0.9}}})
    assert ok.indicators.targets.sensitivity == 0.9  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="sensitivty"):
        registry.source_options("screening", {"indicators": {"targets": {"sensitivty": 0.9}}})
    with pytest.raises(ConfigError, match="window_days"):
        registry.source_options("screening", {"indicators": {"window_days": "a year"}})


def test_no_reader_id_or_participant_number_written(curated: dict[str, object]) -> None:
    root = curated["root"]
    assert isinstance(root, Path)
    reads = pd.read_parquet(root / "out" / "data" / "screening" / "reads.parquet")
    assert "reader_id" not in reads.columns and reads["reader"].str.startswith("RE").all()
    ids = set((root / "demo" / "identifiers.txt").read_text(encoding="utf-8").split("\n")) - {""}
    for path in (root / "out" / "data" / "screening").rglob("*.parquet"):
        text = pd.read_parquet(path).astype(str).to_csv()
        found = [i for i in ids if i.startswith(("SC", "RAD")) and i in text]
        assert not found, f"{path.name} holds {len(found)} identifier(s)"


@pytest.mark.parametrize(
    ("code", "ok"), [("Z12.2", True), ("R91.1", True), ("Z80.1", True), ("C34.1", True), ("J18.9", False)]
)
def test_clinical_records_screening_participants_without_cancer(code: str, ok: bool) -> None:
    """A participant without cancer is a conditions row with a screening code and histology marked
    not applicable: the code conforms and the cancer-only fields count as neither present nor missing."""
    from curation import dictionary
    from curation.quality import checks as qc

    assert bool(dictionary.codes("icd10").valid(pd.Series([code])).iloc[0]) == ok
    rows = pd.DataFrame(
        {
            "patient": ["PT1", "PT2"],
            "site": ["A", "A"],
            "icd10": ["C34.1", "Z12.2"],
            "histology": ["adenocarcinoma", pd.NA],
            "histology__missing": [pd.NA, "not_applicable"],
        }
    )
    overall = qc.check_completeness(rows, "histology", required="required")[0]
    assert overall.count == 0


def test_every_indicator_recomputes_from_its_counts(curated: dict[str, object]) -> None:
    """Rows with a numerator and a denominator are their ratio (Wilson or exact Poisson around it); each
    kappa equals the kappa of its own confusion counts (the agreement heatmap's table)."""
    from curation.modalities import screening

    run = _run(curated)
    ind = screening.indicators(run.data, ctx=run.ctx)
    s = ind.summary()
    ratio = s[s["ci_method"].isin(["wilson", "exact Poisson"]) & (s["denominator"] > 0)]
    assert set(ratio["family"]) == {"accuracy", "risk"} and len(ratio) > 60
    assert np.allclose(ratio["estimate"], ratio["numerator"] / ratio["denominator"])
    assert (ratio["ci_low"] <= ratio["estimate"] + 1e-12).all() and (
        ratio["estimate"] <= ratio["ci_high"] + 1e-12
    ).all()
    conf = ind.confusion
    agr = ind.agreement[ind.agreement["stratum"] == "overall"].set_index("indicator")
    for field, name, weights in (
        ("read_lung_rads", "kappa_lung_rads", "linear"),
        ("nodule_type", "kappa_nodule_type", "none"),
    ):
        c = conf[conf["field"] == field].pivot(index="ai", columns="expert", values="count")
        assert agr.loc[name, "n"] == c.to_numpy().sum()
        assert agr.loc[name, "numerator"] == np.trace(c.to_numpy())
        assert agr.loc[name, "estimate"] == pytest.approx(float(st.kappa(c.to_numpy(), weights=weights)))


def test_demo_generator_is_deterministic(tmp_path: Path) -> None:
    from curation.deid.keys import Keyring
    from curation.demo import screening as demo
    from curation.demo._core import DemoLog

    for name in ("a", "b"):
        demo.generate(
            pd.DataFrame(),
            tmp_path / name,
            rng=np.random.default_rng([7, 7]),
            log=DemoLog(),
            keyring=Keyring(b"k" * 32),
        )
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.csv"))
    assert len(files) == 15
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_relative_dates_count_from_enrolment(curated: dict[str, object], tmp_path: Path) -> None:
    """In dates.mode relative the screening tables count days from each participant's enrolment (most
    participants have no diagnosis to count from)."""
    import yaml

    import curation

    root = curated["root"]
    assert isinstance(root, Path)
    doc = yaml.safe_load((root / "demo" / "cohort.yaml").read_text(encoding="utf-8"))
    doc["dates"] = {"mode": "relative"}
    doc["sources"] = {"screening": doc["sources"]["screening"]}
    doc["secret"] = {"file": str(root / "demo" / "keys" / "demo.key")}
    for src in doc["sources"]["screening"]:
        src["path"] = str(root / "demo" / src["path"])
    cohort = tmp_path / "cohort.yaml"
    cohort.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    curation.curate("screening", cohort, out=tmp_path / "out")
    data = tmp_path / "out" / "data" / "screening"
    p = pd.read_parquet(data / "participants.parquet")
    assert (p["enrolment_date_days"] == 0).all()
    r = pd.read_parquet(data / "rounds.parquet")
    assert r["scan_date_days"].between(0, 600).all() and "scan_date" not in r.columns
    # the cross-modality step reads the day counts back from each participant's (shifted) enrolment date
    anchors = pd.read_parquet(tmp_path / "out" / "quality" / "anchors" / "screening.parquet")
    assert set(anchors["patient"]) == set(p["patient"]) and anchors["enrolment_date"].notna().all()


def test_figures_are_titled_and_captioned(curated: dict[str, object]) -> None:
    from curation.modalities import screening
    from curation.modalities.screening._figures import all_figures
    from curation.report import caption

    run = _run(curated)
    figs = all_figures(screening.indicators(run.data, ctx=run.ctx), screening.verdicts(run.data, ctx=run.ctx))
    assert {"ROC curves", "Bland-Altman: nodule size", "AI vs expert Lung-RADS", "Risk score calibration"} <= set(figs)
    assert sum(t.startswith("Forest plot") for t in figs) >= 7
    for title, fig in figs.items():
        assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text, title
        assert caption(fig), title
        assert any(len(t.x) for t in fig.data if getattr(t, "x", None) is not None), title


def test_a_programme_without_reads_or_biomarkers(curated: dict[str, object], tmp_path: Path) -> None:
    """Only participants, rounds and follow-up: the screening indicators are computed, the agreement and
    marker ones have nothing to estimate (not applicable), and nothing crashes or warns."""
    import yaml

    import curation

    root = curated["root"]
    assert isinstance(root, Path)
    doc = yaml.safe_load((root / "demo" / "cohort.yaml").read_text(encoding="utf-8"))
    keep = [s for s in doc["sources"]["screening"] if s["table"] in ("participants", "rounds", "followup")]
    for src in keep:
        src["path"] = str(root / "demo" / src["path"])
    doc["sources"] = {"screening": keep}
    doc["secret"] = {"file": str(root / "demo" / "keys" / "demo.key")}
    cohort = tmp_path / "cohort.yaml"
    cohort.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    run = curation.curate("screening", cohort, out=tmp_path / "out")
    c = run.checks.set_index("check_id")
    assert not (c["verdict"] == "error").any()
    assert c.loc["screening.indicator.kappa_lung_rads", "verdict"] == "not_applicable"
    assert c.loc["screening.indicator.sensitivity", "verdict"] in ("pass", "fail")
    figs = run.figures()
    assert "ROC curves" in figs and "AI vs expert Lung-RADS" not in figs
