"""Models against humans: κ on hand fixtures, per-category shape bias by hand, stored decisions read back,
and the human-vs-human ceiling recomputed independently from the raw model-vs-human CSVs."""

from __future__ import annotations

import csv
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from biasbench.analysis.humans import (
    compare,
    compare_results,
    error_consistency,
    image_id,
    read_human_trials,
    read_model_trials,
    shape_bias_per_category,
)
from biasbench.store.results import ResultsStore


def test_error_consistency_hand_fixture():
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)  # p1 = 5/8
    b = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)  # p2 = 4/8
    c_obs, c_exp, kappa = error_consistency(a, b)
    assert c_obs == pytest.approx(5 / 8)  # agree on trials 0, 1, 3, 5, 6
    assert c_exp == pytest.approx(5 / 8 * 4 / 8 + 3 / 8 * 4 / 8)  # = 0.5
    assert kappa == pytest.approx((5 / 8 - 0.5) / 0.5)
    assert error_consistency(a, a)[2] == 1.0
    assert error_consistency(np.ones(4, bool), np.ones(4, bool)) == (1.0, 1.0, 1.0)  # c_obs = 1 -> κ = 1
    assert error_consistency(a, ~a)[2] == pytest.approx((0 - (5 / 8 * 3 / 8 * 2)) / (1 - 5 / 8 * 3 / 8 * 2))
    with pytest.raises(ValueError, match="equally long"):
        error_consistency(a, b[:3])


def test_image_id_matches_model_vs_human():
    assert image_id("0002_s5n_s01_0_bird_00_bird2-clock3.png") == "bird2-clock3.png"
    assert image_id("0001_edg_s01_0_oven_00_oven10.png") == "oven10.png"


def _trials(observer, rows):
    return pd.DataFrame(
        [(observer, i, c, r) for i, c, r in rows], columns=["observer", "image_id", "category", "response"]
    )


def test_shape_bias_per_category_and_compare():
    humans = pd.concat(
        [
            _trials(
                "subject-01",
                [("cat1-dog1.png", "cat", "cat"), ("dog1-cat2.png", "dog", "cat"), ("cat2-cat3.png", "cat", "cat")],
            ),
            _trials(
                "subject-02",
                [("cat1-dog1.png", "cat", "dog"), ("dog1-cat2.png", "dog", "dog"), ("cat2-cat3.png", "cat", "na")],
            ),
        ]  # fmt: skip
    )
    model = _trials("net", [("cat1-dog1.png", "cat", "dog"), ("dog1-cat2.png", "dog", "cat"),
                            ("cat2-cat3.png", "cat", "cat")])  # fmt: skip
    per = shape_bias_per_category(pd.concat([humans, model])).set_index(["observer", "category"])
    # humans pooled, conflict trials only (cat2-cat3 has no conflict): cat: 1 shape, 1 texture; dog: 1 and 1
    assert per.loc[("humans", "cat"), "shape_bias"] == 0.5 and per.loc[("humans", "all"), "n_shape"] == 2
    assert per.loc[("net", "cat"), "shape_bias"] == 0.0 and per.loc[("net", "all"), "n_texture"] == 2
    result = compare(humans, model, "cue-conflict")
    s = result.summary.set_index("observer")
    # model correct [F, F, T]; subject-01 [T, F, T]; subject-02 [F, T, F]
    k1 = error_consistency(np.array([0, 0, 1], bool), np.array([1, 0, 1], bool))[2]
    k2 = error_consistency(np.array([0, 0, 1], bool), np.array([0, 1, 0], bool))[2]
    assert s.at["net", "kappa"] == pytest.approx((k1 + k2) / 2)
    hh = error_consistency(np.array([1, 0, 1], bool), np.array([0, 1, 0], bool))[2]
    assert s.at["humans", "kappa"] == pytest.approx(hh)
    assert s.at["humans", "accuracy16"] == pytest.approx(3 / 6) and s.at["net", "accuracy16"] == pytest.approx(1 / 3)
    assert s.at["net", "shape_bias"] == 0.0 and s.at["humans", "shape_bias"] == 0.5
    stranger = _trials("generated", [("bear1-cat1.png", "bear", "cat")])  # no image the humans saw
    result = compare(humans, pd.concat([model, stranger]), "cue-conflict")
    assert set(result.summary["observer"]) == {"humans", "net"} and s.at["net", "kappa"] == pytest.approx(
        result.summary.set_index("observer").at["net", "kappa"]
    )
    assert any("generated on cue-conflict: no stored decision is on an image the humans saw" in n for n in result.notes)


def test_read_model_trials_from_stored_samples(tmp_path):
    samples = pd.DataFrame(
        {
            "index": [0, 1],
            "file": ["cat/cat1-dog1.png", "dog/dog1-cat2.png"],
            "label": [7, 10],  # CATEGORIES16: cat = 7, dog = 10
            "condition": "clean",
            "decision": [10, 10],
        }
    )
    store = ResultsStore(tmp_path)
    store.write("k1", pd.DataFrame(), samples, {"job": "k1", "model": "net", "probe": "shape-bias",
                                                 "dataset": "cue-conflict"})  # fmt: skip
    trials, notes = read_model_trials(tmp_path, "cue-conflict")
    assert trials.to_dict("list") == {
        "observer": ["net", "net"],
        "image_id": ["cat1-dog1.png", "dog1-cat2.png"],
        "category": ["cat", "dog"],
        "response": ["dog", "dog"],
    }
    assert notes == []
    # accuracy jobs (edge / silhouette) keep the 16-class top-k; the decision is its first entry
    topk = samples.drop(columns="decision").assign(topk=[[3, 7], [10, 3]])
    for key in ("e1", "e2"):
        store.write(key, pd.DataFrame(), topk.head(1 if key == "e1" else 2),
                    {"job": key, "model": "net", "probe": "accuracy", "dataset": "edge",
                     "limit": 1 if key == "e1" else None})  # fmt: skip
    trials, notes = read_model_trials(tmp_path, "edge")  # the analysis' rule: the full dataset over --limit 1
    assert trials["response"].tolist() == ["bird", "dog"] and len(notes) == 1
    assert "from job e2" in notes[0] and "ignored job e1" in notes[0]


@pytest.mark.realdata
@pytest.mark.parametrize("experiment", ["cue-conflict", "edge", "silhouette"])
def test_human_ceiling_against_the_raw_csvs(data_root, tmp_path, experiment):
    folder = data_root / "model-vs-human-raw-data" / "raw-data" / experiment
    if not folder.is_dir():
        pytest.skip("model-vs-human raw data not under the data root")
    # Independent: csv module, image id after the last "_", correct = response == category.
    per_subject: dict[str, dict[str, bool]] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                row = {k.lower(): v for k, v in row.items()}
                trial = row["imagename"].rsplit("_", 1)[-1]
                per_subject.setdefault(row["subj"], {})[trial] = row["object_response"] == row["category"]
    kappas = []
    for s1, s2 in combinations(sorted(per_subject), 2):
        keys = sorted(per_subject[s1])
        a = np.array([per_subject[s1][k] for k in keys])
        b = np.array([per_subject[s2][k] for k in keys])
        p1, p2 = a.mean(), b.mean()
        c_exp = p1 * p2 + (1 - p1) * (1 - p2)
        kappas.append(((a == b).mean() - c_exp) / (1 - c_exp))
    humans = read_human_trials(folder)
    model = humans[humans["observer"] == "subject-01"].assign(observer="copy-of-subject-01")
    result = compare(humans, model, experiment).summary.set_index("observer")
    assert len(per_subject) == 10
    assert result.at["humans", "kappa"] == pytest.approx(np.mean(kappas), abs=1e-12)
    ceiling = {"cue-conflict": 0.33105, "edge": 0.31844, "silhouette": 0.47571}  # the values the README quotes
    assert result.at["humans", "kappa"] == pytest.approx(ceiling[experiment], abs=1e-5)
    # A model that answers exactly like subject-01 has κ = 1 with it, and its mean over subjects is
    # subject-01's own mean κ with the other nine plus that 1, over 10.
    pairs = list(combinations(sorted(per_subject), 2))
    own = [k for (s1, s2), k in zip(pairs, kappas, strict=True) if "subject-01" in (s1, s2)]
    assert result.at["copy-of-subject-01", "kappa"] == pytest.approx((sum(own) + 1) / 10, abs=1e-12)
    assert compare_results(tmp_path, data_root) is None  # no stored decisions: nothing to compare


@pytest.mark.realdata
@pytest.mark.parametrize(("dataset", "experiment"), [("edge", "edge"), ("silhouette", "silhouette"),
                                                      ("cue-conflict", "cue-conflict")])  # fmt: skip
def test_stimulus_files_match_the_human_trials(data_root, dataset, experiment):
    from pathlib import Path

    from biasbench.data.datasets import load_dataset
    from biasbench.data.labels.categories16 import CATEGORIES16

    folder = data_root / "model-vs-human-raw-data" / "raw-data" / experiment
    if not folder.is_dir():
        pytest.skip("model-vs-human raw data not under the data root")
    stimuli = load_dataset(dataset, data_root)
    files = {Path(s.path).name: CATEGORIES16[s.label] for s in stimuli.samples}
    humans = read_human_trials(folder)
    assert set(humans["image_id"]) == set(files)  # every trial matches exactly one stimulus by name
    assert (humans["category"] == humans["image_id"].map(files)).all()  # and its category is the label


@pytest.mark.realdata
def test_report_compares_stored_decisions_with_humans(data_root, tmp_path):
    """A 'model' whose stored cue-conflict decisions are subject-01's answers: the report command finds them,
    and its κ with subject-01 is 1 while the summary equals an independent recomputation."""
    import typer
    from typer.testing import CliRunner

    from biasbench.commands.analysis import register
    from biasbench.data.labels.categories16 import CATEGORIES16

    folder = data_root / "model-vs-human-raw-data" / "raw-data" / "cue-conflict"
    if not folder.is_dir():
        pytest.skip("model-vs-human raw data not under the data root")
    humans = read_human_trials(folder)
    s1 = humans[(humans["observer"] == "subject-01") & humans["response"].isin(CATEGORIES16)]
    index = {c: i for i, c in enumerate(CATEGORIES16)}
    samples = pd.DataFrame(
        {
            "index": range(len(s1)),
            "file": s1["category"] + "/" + s1["image_id"],
            "label": s1["category"].map(index),
            "condition": "clean",
            "decision": s1["response"].map(index),
        }
    )
    records = pd.DataFrame(
        [("mimic", "shape-bias", "cue-conflict", "shape_bias", "", 0.5, 1, np.nan, np.nan, "k")],
        columns=["model", "probe", "dataset", "metric", "condition", "value", "n", "ci_low", "ci_high", "job"],
    )
    ResultsStore(tmp_path).write(
        "k", records, samples, {"job": "k", "model": "mimic", "probe": "shape-bias", "dataset": "cue-conflict"}
    )
    result = compare_results(tmp_path, data_root)
    pairs = result.pairs.set_index(["observer", "subject"])
    assert pairs.loc[("mimic", "subject-01"), "kappa"] == pytest.approx(1.0)
    model = read_model_trials(tmp_path, "cue-conflict")[0]
    want = compare(humans, model, "cue-conflict").summary
    pd.testing.assert_frame_equal(result.summary, want)
    assert any("27 of the humans' images have no stored decision" in n for n in result.notes)  # its 'na' trials
    from biasbench.analysis.humans import HumanData
    from biasbench.analysis.pipeline import analyse

    analysis = analyse(records, n_boot=0, n_perm=0, humans=HumanData(tmp_path, data_root))  # the comparison inside
    pd.testing.assert_frame_equal(analysis.humans.summary, want)
    assert set(result.notes) <= set(analysis.notes) and analyse(records, n_boot=0, n_perm=0).humans is None
    app = typer.Typer()
    register(app)
    out = tmp_path / "report.html"
    cli = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(out), "--n-boot", "0"])
    assert cli.exit_code == 0, cli.output
    html = out.read_text()
    assert 'id="humans"' in html and "Shape bias per shape category (model-vs-human's plot)" in html
    from biasbench.cli import app  # every command, through the top-level handler

    cli = CliRunner().invoke(app, ["humans", str(tmp_path), "--data-root", str(data_root)])
    assert cli.exit_code == 0, cli.output
    assert "Models against humans" in cli.output and "mimic" in cli.output
    saved = pd.read_csv(tmp_path / "analysis" / "humans.csv")
    assert saved.set_index("observer").at["mimic", "kappa"] == pytest.approx(
        want.set_index("observer").at["mimic", "kappa"]
    )
    empty = CliRunner().invoke(app, ["humans", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no results directory" in empty.output
