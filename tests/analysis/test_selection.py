"""One job per (model, measurement): the analysis never averages a limit run with a full run, a compat with
a default run, or a bias measured on two datasets; conflicts it cannot resolve fail with the jobs named."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from biasbench.analysis.pipeline import analyse
from biasbench.analysis.scores import bias_table, generalization_scores
from biasbench.analysis.selection import JobSelectionError, JobSelector, parse_preferences
from biasbench.core.errors import BiasbenchError
from biasbench.probes import get_probe
from biasbench.store import ResultsStore

from .conftest import make_records


def jobs(*manifests):
    return {m["job"]: m for m in manifests}


def manifest(key, probe, dataset="imagenet-val", limit=None, version=None, **params):
    defaults = get_probe(probe).Params().model_dump(mode="json")
    return {
        "job": key,
        "model": "m",
        "probe": probe,
        "probe_version": get_probe(probe).version if version is None else version,
        "dataset": dataset,
        "limit": limit,
        "params": {**defaults, **params},
        "seed": 0,
        "precision": "fp32",
    }


def rows(job, probe, dataset, metric, value, condition="", model="m"):
    frame = make_records([(model, probe, dataset, metric, condition, value)])
    frame["job"] = job
    return frame


def top1(job, value, model="m"):
    return rows(job, "accuracy", "imagenet-val", "top1", value, model=model)


def test_full_run_wins_over_limit_run_never_a_mean():
    records = pd.concat([top1("small", 0.9), top1("full", 0.5)])
    selector = JobSelector(jobs(manifest("small", "accuracy", limit=100), manifest("full", "accuracy")))
    table = generalization_scores(records, selector=selector).values
    assert table.at["m", "imagenet_top1"] == pytest.approx(50.0)  # not 70, the blend
    assert any("job full" in n and "ignored job small" in n and "limit=100" in n for n in selector.notes)


def test_default_params_win_over_compat_run():
    records = pd.concat([top1("compat", 0.2), top1("plain", 0.6)])
    selector = JobSelector(jobs(manifest("compat", "accuracy", compat_last_batch=True), manifest("plain", "accuracy")))
    assert generalization_scores(records, selector=selector).values.at["m", "imagenet_top1"] == pytest.approx(60.0)


def test_newest_probe_version_wins():
    records = pd.concat([top1("old", 0.2), top1("new", 0.6)])
    selector = JobSelector(jobs(manifest("old", "accuracy", version=1), manifest("new", "accuracy", version=3)))
    assert generalization_scores(records, selector=selector).values.at["m", "imagenet_top1"] == pytest.approx(60.0)


def test_bias_on_two_datasets_is_an_error_naming_both_jobs_until_preferred():
    records = pd.concat(
        [
            rows("on-val", "spectral", "imagenet-val", "low_freq_bias", 0.6),
            rows("on-sample", "spectral", "imagenet-sample", "low_freq_bias", 0.9),
        ]
    )
    manifests = jobs(manifest("on-val", "spectral"), manifest("on-sample", "spectral", dataset="imagenet-sample"))
    with pytest.raises(JobSelectionError) as err:
        bias_table(records, selector=JobSelector(manifests))
    message = str(err.value)
    for text in (
        "model m",
        "on-val",
        "on-sample",
        "dataset=imagenet-sample",
        "full dataset",
        "--prefer spectral:job=KEY",
    ):
        assert text in message
    chosen = JobSelector(manifests, {"spectral": {"dataset": "imagenet-val"}})
    assert bias_table(records, selector=chosen).values.at["m", "low_freq_bias"] == pytest.approx(0.6)
    by_key = JobSelector(manifests, parse_preferences(["spectral:job=on-sample"]))
    assert bias_table(records, selector=by_key).values.at["m", "low_freq_bias"] == pytest.approx(0.9)


def test_two_limited_runs_conflict_and_the_error_shows_limits_and_params():
    records = pd.concat([top1("a", 0.2), top1("b", 0.6)])
    manifests = jobs(
        manifest("a", "accuracy", limit=100, compat_batch_size=32),
        manifest("b", "accuracy", limit=200, compat_batch_size=64),
    )
    with pytest.raises(JobSelectionError, match=r"limit=100.*\n.*limit=200, v3, params: compat_batch_size=64"):
        generalization_scores(records, selector=JobSelector(manifests))
    picked = JobSelector(manifests, parse_preferences(["limit=200"]))
    assert generalization_scores(records, selector=picked).values.at["m", "imagenet_top1"] == pytest.approx(60.0)


def test_a_balanced_and_a_first_n_sample_of_one_limit_are_told_apart():
    records = pd.concat([top1("bal", 0.7), top1("first", 0.3)])
    manifests = jobs(
        {**manifest("bal", "accuracy", limit=64), "limit_mode": "balanced"},
        {**manifest("first", "accuracy", limit=64), "limit_mode": "first"},
    )
    with pytest.raises(JobSelectionError, match=r"limit=64 balanced.*\n.*limit=64 first"):
        generalization_scores(records, selector=JobSelector(manifests))
    picked = JobSelector(manifests, parse_preferences(["limit_mode=balanced"]))
    assert generalization_scores(records, selector=picked).values.at["m", "imagenet_top1"] == pytest.approx(70.0)


def test_jobs_without_manifests_still_conflict():
    records = pd.concat([top1("x", 0.2), top1("y", 0.6)])
    with pytest.raises(JobSelectionError, match="job x .*\n.*job y"):
        generalization_scores(records)


def test_selection_is_per_model_and_a_single_job_passes_through():
    records = pd.concat([top1("a", 0.2, model="m1"), top1("b", 0.6, model="m2")])
    table = generalization_scores(records).values
    assert table["imagenet_top1"].tolist() == pytest.approx([20.0, 60.0])


def test_one_job_emitting_a_key_twice_is_refused():
    records = pd.concat([top1("a", 0.2), top1("a", 0.6)])
    with pytest.raises(ValueError, match="within one job"):
        generalization_scores(records)


def test_parse_preferences():
    assert parse_preferences(["spectral:dataset=imagenet-val", "limit=none", "adversarial:params.steps=10"]) == {
        "spectral": {"dataset": "imagenet-val"},
        "*": {"limit": "none"},
        "adversarial": {"params.steps": "10"},
    }
    with pytest.raises(BiasbenchError, match="FIELD=VALUE"):
        parse_preferences(["spectral:colour=red"])
    with pytest.raises(BiasbenchError, match="FIELD=VALUE"):
        parse_preferences(["dataset"])
    assert parse_preferences(["accuracy:dataset=a:b"]) == {"accuracy": {"dataset": "a:b"}}


def test_analyse_passes_the_selector_to_scores_biases_and_criticality():
    records = pd.concat(
        [
            top1("small", 0.9),
            top1("full", 0.5),
            rows("crit-small", "criticality", "imagenet-val", "criticality", 10.0, "fc"),
            rows("crit-full", "criticality", "imagenet-val", "criticality", 30.0, "fc"),
        ]
    )
    selector = JobSelector(
        jobs(
            manifest("small", "accuracy", limit=10),
            manifest("full", "accuracy"),
            manifest("crit-small", "criticality", limit=10),
            manifest("crit-full", "criticality"),
        )
    )
    result = analyse(records, n_boot=0, selector=selector)
    assert result.scores.at["m", "imagenet_top1"] == pytest.approx(50.0)
    assert result.criticality.matrix.at["m", "fc"] == pytest.approx(30.0)
    assert sum("ignored job" in n for n in result.notes) == 2


def test_report_cli_names_the_conflict_and_the_option(tmp_path):
    store = ResultsStore(tmp_path)
    for key, dataset in (("k-val", "imagenet-val"), ("k-sample", "imagenet-sample")):
        frame = rows(key, "spectral", dataset, "low_freq_bias", 0.5)
        store.write(key, frame, None, manifest(key, "spectral", dataset=dataset))
    from biasbench.cli import app  # the command as users run it: a user's error is one line, status 2

    result = CliRunner().invoke(app, ["report", str(tmp_path), "--n-boot", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "k-val" in result.output and "k-sample" in result.output and "--prefer" in result.output
    bad = CliRunner().invoke(app, ["report", str(tmp_path), "--prefer", "nonsense"])
    assert bad.exit_code == 2 and "FIELD=VALUE" in bad.output


def test_per_model_picks_one_job_per_model_for_per_sample_tables():
    manifests = {
        "a-full": {"model": "a", "probe": "accuracy", "dataset": "imagenet-val", "limit": None},
        "a-lim": {"model": "a", "probe": "accuracy", "dataset": "imagenet-val", "limit": 100},
        "b": {"model": "b", "probe": "accuracy", "dataset": "imagenet-val", "limit": 100},
        "b-other": {"model": "b", "probe": "accuracy", "dataset": "imagenet-sample"},
        "c": {"model": "c", "probe": "shape-bias", "dataset": "imagenet-val"},
    }
    chosen, notes = JobSelector(manifests).per_model(manifests, "accuracy", "imagenet-val")
    assert {m: j.key for m, j in chosen.items()} == {"a": "a-full", "b": "b"}
    assert len(notes) == 1 and notes[0].startswith("a: read accuracy on imagenet-val from job a-full")
    preferred = JobSelector(manifests, parse_preferences(["accuracy:limit=100"]))
    assert preferred.per_model(manifests, "accuracy", "imagenet-val")[0]["a"].key == "a-lim"


def test_full_copy_wins_over_a_partial_copy_and_partial_jobs_are_noted():
    records = pd.concat([top1("trim", 0.9), top1("full", 0.5)])
    trimmed = {**manifest("trim", "accuracy"), "partial": "labels.csv lists 900 file(s) that are missing"}
    selector = JobSelector(jobs(trimmed, manifest("full", "accuracy")))
    table = generalization_scores(records, selector=selector).values
    assert table.at["m", "imagenet_top1"] == pytest.approx(50.0)
    assert any("ignored job trim (dataset=imagenet-val, full dataset, partial copy" in n for n in selector.notes)
    alone = JobSelector(jobs(trimmed))
    generalization_scores(top1("trim", 0.9), selector=alone)
    assert alone.notes == [
        "job trim (dataset=imagenet-val, full dataset, partial copy, v3, params: defaults) measured a partial copy "
        "of imagenet-val, not the full benchmark"
    ]
