"""The comparability rules (one per study measurement) on comparable, approximate and not-comparable cases, the
ranks of placed values, and the placement among the released 48 models checked against benchmark.csv."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biasbench.analysis.comparability import (
    APPROXIMATE,
    GAVRIKOV2024_RULES,
    NOT_COMPARABLE,
    SAME,
    compare,
)
from biasbench.analysis.context import StudyContext, load_context, place, rank_among
from biasbench.analysis.findings import placement_findings
from biasbench.analysis.pipeline import analyse
from biasbench.analysis.selection import JobInfo, JobSelector
from biasbench.analysis.specs import SCORES

from .conftest import make_records

RULES = {r.name: r for r in GAVRIKOV2024_RULES}
CRITICAL_BAND = {"protocol": "B", "criterion": 50.0, "reference": None, "noise_rms": "level0", "adaptive": True}


def _records(rows: list[tuple]) -> pd.DataFrame:
    """Records from (model, probe, dataset, metric, condition, value, job[, ci_low, ci_high])."""
    frame = make_records([r[:6] for r in rows])
    frame["job"] = [r[6] for r in rows]
    frame["ci_low"] = [r[7] if len(r) > 7 else np.nan for r in rows]
    frame["ci_high"] = [r[8] if len(r) > 8 else np.nan for r in rows]
    return frame


def _check(rule: str, rows: list[tuple], jobs: dict[str, JobInfo], scores: pd.DataFrame | None = None):
    return compare(RULES[rule], "mine", scores if scores is not None else pd.DataFrame(), _records(rows), jobs)


def test_same_protocol_is_placed_as_is():
    jobs = {"sb": JobInfo("sb", "shape-bias", "cue-conflict", n_images=1280)}
    c = _check("shape_bias", [("mine", "shape-bias", "cue-conflict", "shape_bias", "", 0.24, "sb", 0.21, 0.27)], jobs)
    assert (c.status, c.value, c.ci_low, c.ci_high, c.reason) == (SAME, 0.24, 0.21, 0.27, "")
    assert c.images == "the 1,280 cue-conflict stimuli" and c.placed
    jobs = {"a": JobInfo("a", "accuracy", "imagenet-val", n_images=50_000)}
    c = _check("imagenet_top1", [("mine", "accuracy", "imagenet-val", "top1", "", 0.761, "a", 0.757, 0.765)], jobs)
    assert c.status == SAME and c.value == pytest.approx(76.1) and c.ci_high == pytest.approx(76.5)


def test_other_or_fewer_images_are_approximate_with_the_difference_said():
    jobs = {"a": JobInfo("a", "accuracy", "imagenet-sample", n_images=1000)}
    c = _check("imagenet_top1", [("mine", "accuracy", "imagenet-sample", "top1", "", 0.871, "a", 0.848, 0.889)], jobs)
    assert c.status == APPROXIMATE and c.value == pytest.approx(87.1) and c.ci_low == pytest.approx(84.8)
    assert c.reason == ("the 1,000-image one-per-class sample of ImageNet val (study: the 50,000 ImageNet val images)")
    spectral = {"bias_cutoffs": [0.1, 0.2, 0.3, 0.4, 0.5], "cutoffs": [0.1, 0.2, 0.3, 0.4, 0.5], "mask": "square"}
    jobs = {"s": JobInfo("s", "spectral", "imagenet-val", limit=64, n_images=64, params=spectral)}
    c = _check("low_freq_bias", [("mine", "spectral", "imagenet-val", "low_freq_bias", "", 0.58, "s")], jobs)
    assert c.status == APPROXIMATE and c.n_images == 64
    assert c.reason == "64 images of the imagenet-val images (study: the 50,000 ImageNet val images)"
    pgd = {"steps": 10, "epsilon": [0.5 / 255], "norm": "linf"}
    jobs = {"p": JobInfo("p", "adversarial", "imagenet-sample", limit=16, n_images=16, params=pgd)}
    rows = [("mine", "adversarial", "imagenet-sample", "robust_accuracy", "pgd/linf/eps=0.5/255", 0.375, "p")]
    c = _check("adversarial", rows, jobs)
    assert c.status == APPROXIMATE and c.value == pytest.approx(37.5)
    assert c.reason.startswith("steps = 10 (study: PGD-40); 16 images of the 1,000-image one-per-class sample")


def test_different_quantities_failed_fits_and_missing_measurements_are_not_comparable():
    jobs = {"s": JobInfo("s", "spectral", "imagenet-val", params={"bias_cutoffs": [0.1, 0.3], "mask": "square"})}
    c = _check("low_freq_bias", [("mine", "spectral", "imagenet-val", "low_freq_bias", "", 0.58, "s")], jobs)
    assert c.status == NOT_COMPARABLE and np.isnan(c.value) and not c.placed
    assert c.reason == "bias_cutoffs = [0.1, 0.3] (study: the mean over cut-offs 0.1-0.5)"
    jobs = {"c": JobInfo("c", "critical-band", "imagenet-val", params={**CRITICAL_BAND, "protocol": "A"})}
    c = _check("bandwidth", [("mine", "critical-band", "imagenet-val", "bandwidth", "", 4.7, "c")], jobs)
    assert c.status == NOT_COMPARABLE and c.reason.startswith("protocol = A (study: protocol B")
    failure = {"fit": {"reason": "centre -49.5 lies outside the measured bands 0-6 (an extrapolated peak)"}}
    jobs = {"c": JobInfo("c", "critical-band", "imagenet-sample", n_images=64, params=CRITICAL_BAND, notes=failure)}
    rows = [
        ("mine", "critical-band", "imagenet-sample", "bandwidth", "", np.nan, "c"),
        ("mine", "critical-band", "imagenet-sample", "fit_degenerate", "", 1.0, "c"),
    ]
    c = _check("bandwidth", rows, jobs)
    assert c.status == NOT_COMPARABLE
    assert (
        c.reason == "the channel fit failed (centre -49.5 lies outside the measured bands 0-6 (an extrapolated peak))"
    )
    rows = [
        ("mine", "accuracy", "imagenet-sample", "top1", "", 0.8, "a"),
        ("mine", "corruption", "imagenet-sample", "mean_accuracy_subset", "generated/x", 0.5, "k"),
    ]
    scores = pd.DataFrame({"robustness": [np.nan]}, index=["mine"])
    c = _check("robustness", rows, {}, scores)
    assert c.status == NOT_COMPARABLE and c.reason == (
        "not measured: needs accuracy on imagenet-a; corruption (ondisk) on imagenet-c, imagenet-cbar "
        "(the results hold only accuracy on imagenet-sample; corruption on imagenet-sample)"
    )
    c = _check("shape_bias", [], {})
    assert c.status == NOT_COMPARABLE and c.reason == "not measured (needs shape-bias shape_bias on cue-conflict)"


def test_a_complete_score_on_the_study_datasets_is_the_same_and_a_limited_one_approximate():
    spec = next(s for s in SCORES if s.name == "concepts")
    rows = [("mine", m.probe, m.dataset, m.metric, m.condition, 0.4, f"j{i}") for i, m in enumerate(spec.members)]
    scores = pd.DataFrame({"concepts": [40.0]}, index=["mine"])
    jobs = {f"j{i}": JobInfo(f"j{i}", "accuracy", m.dataset) for i, m in enumerate(spec.members)}
    assert _check("concepts", rows, jobs, scores).status == SAME
    jobs["j0"] = JobInfo("j0", "accuracy", spec.members[0].dataset, limit=500, n_images=500)
    c = _check("concepts", rows, jobs, scores)
    assert c.status == APPROXIMATE and c.reason == "subsets of the study's datasets: imagenet-sketch: 500 images"


def test_rank_counts_from_the_highest_and_reports_ties():
    study = pd.Series([0.1, 0.5, 0.5, 0.9])
    assert rank_among(0.95, study) == (1, 5, 0)
    assert rank_among(0.5, study) == (2, 5, 2)
    assert rank_among(0.05, study) == (5, 5, 0)


def _study() -> StudyContext:
    rows = []
    for i, value in enumerate((0.1, 0.2, 0.3, 0.4)):
        rows.append((f"s{i}", "shape-bias", "cue-conflict", "shape_bias", "", value))
        rows.append((f"s{i}", "accuracy", "imagenet-val", "top1", "", 0.6 + value / 10))
    analysis = analyse(make_records(rows), n_boot=0, n_perm=0)
    return StudyContext("toy", "Toy study", "4 toy models", analysis, GAVRIKOV2024_RULES)


def test_place_ranks_user_models_and_the_sentences_say_where():
    rows = [
        ("mine", "shape-bias", "cue-conflict", "shape_bias", "", 0.25, "sb"),
        ("mine", "accuracy", "imagenet-sample", "top1", "", 0.90, "a"),
    ]
    records = _records(rows)
    jobs = {
        "sb": {"probe": "shape-bias", "dataset": "cue-conflict", "n_images": 1280},
        "a": {"probe": "accuracy", "dataset": "imagenet-sample", "n_images": 1000},
    }
    analysis = analyse(records, n_boot=0, n_perm=0, selector=JobSelector(jobs))
    placement = place(analysis, _study())
    table = placement.table.set_index("measurement")
    assert table.at["shape_bias", "rank"] == 3 and table.at["shape_bias", "of"] == 5
    assert table.at["imagenet_top1", "status"] == APPROXIMATE and table.at["imagenet_top1", "rank"] == 1
    assert set(table.loc[table["status"] == NOT_COMPARABLE].index) == set(RULES) - {"shape_bias", "imagenet_top1"}
    (sentence,) = placement_findings(placement)
    assert sentence.lead == "mine"
    assert sentence.text.startswith(
        "Same protocol: Shape bias 0.25 (#3 of 5). Approximate (other or fewer images): ImageNet top-1 90.0 % "
        "(#1 of 5, above all 4). Not comparable: ID, Robustness, Concepts, Adversarial, Low-freq. bias (LPP)"
    )


def test_placement_among_the_released_48_matches_benchmark_csv(data_root):
    folder = data_root / "biases-vs-generalization"
    if not (folder / "benchmark.csv").is_file():
        pytest.skip(f"{folder} lacks benchmark.csv")
    context = load_context("gavrikov2024", data_root, n_boot=0, n_perm=0)
    ids = [m for ms in json.loads((folder / "r50_categories.json").read_text()).values() for m in ms]
    csv = pd.read_csv(folder / "benchmark.csv").set_index("model").loc[ids]
    assert len(context.values("shape_bias")) == 48
    rows = [("mine", "shape-bias", "cue-conflict", "shape_bias", "", 0.2394, "sb")]
    analysis = analyse(_records(rows), n_boot=0, n_perm=0)
    placed = place(analysis, context).table.set_index("measurement").loc["shape_bias"]
    assert placed["rank"] == 1 + int((csv["shape-bias"] > 0.2394).sum())
    assert placed["study_max"] == pytest.approx(csv["shape-bias"].max())
    assert placed["of"] == 49
