"""Multi-step studies: one plan for all steps, each model loaded once, the same records as separate runs."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pandas as pd
import pytest

import biasbench
from biasbench.core.errors import BiasbenchError
from biasbench.engine import EngineConfig
from biasbench.models.sources import MODEL_SOURCES
from biasbench.run.local import Progress
from biasbench.run.plan import Job
from tests.conftest import TINY_MODEL

QUIET = EngineConfig(progress=False, batch_size=8)
MODELS = [TINY_MODEL, TINY_MODEL + "&seed=1"]
STEPS = [
    biasbench.Step(("accuracy", "calibration"), ("imagenet-sample",), limit=12),
    biasbench.Step(
        ("spectral",), ("imagenet-sample",), {"spectral": {"cutoffs": [0.1, 0.5], "bias_cutoffs": [0.1, 0.5]}}, limit=6
    ),
    biasbench.Step(("accuracy",), ("imagenet-sample",), limit=6),
]


@pytest.fixture
def loads(monkeypatch):
    """Counts model loads and fingerprints by spec, through the source's own methods."""
    source = MODEL_SOURCES["timm"]
    counts = {"load": [], "fingerprint": []}
    for name in counts:
        original = getattr(source, name)

        def counted(spec, _original=original, _name=name):
            counts[_name].append(spec.text)
            return _original(spec)

        monkeypatch.setattr(source, name, counted)
    return counts


def test_a_study_loads_each_model_once(generated_root, tmp_path, loads):
    messages = []
    result = biasbench.run_study(
        MODELS, STEPS, tmp_path, data_root=generated_root, engine=QUIET, report=messages.append
    )
    assert sorted(loads["load"]) == sorted(MODELS) and sorted(loads["fingerprint"]) == sorted(MODELS)
    assert result.summary.ok and len(result.summary.finished) == 2 * 4
    # grouped by model across the steps, in the given model order
    assert [j.model for j in result.summary.finished] == [MODELS[0]] * 4 + [MODELS[1]] * 4
    assert [len(jobs) for jobs in result.step_jobs] == [4, 2, 2]
    assert set(result.summary.seconds) == {j.key for j in result.summary.finished}
    assert set(result.summary.load_seconds) == set(MODELS)
    assert any("ETA" in m for m in messages)
    again = biasbench.run_study(MODELS, STEPS, tmp_path, data_root=generated_root, engine=QUIET, report=messages.append)
    assert len(again.summary.skipped) == 8 and not again.summary.finished
    assert len(loads["load"]) == 2  # nothing left to run: no model is loaded


def test_a_study_gives_the_records_of_separate_runs(generated_root, tmp_path):
    study = biasbench.run_study(
        MODELS, STEPS, tmp_path / "study", data_root=generated_root, engine=QUIET, report=lambda m: None
    )
    separate = [
        biasbench.run(
            MODELS,
            list(s.probes),
            tmp_path / "separate",
            datasets=s.datasets,
            params=s.params,
            limit=s.limit,
            data_root=generated_root,
            engine=QUIET,
            report=lambda m: None,
        )
        for s in STEPS
    ]
    columns = ["job", "model", "probe", "metric", "condition", "value", "n"]
    merged = pd.concat(separate)[columns]
    key = ["job", "metric", "condition"]
    pd.testing.assert_frame_equal(
        study[columns].sort_values(key).reset_index(drop=True), merged.sort_values(key).reset_index(drop=True)
    )


def test_a_study_needs_steps_with_probes(generated_root, tmp_path):
    with pytest.raises(BiasbenchError, match="at least one step"):
        biasbench.run_study(MODELS, [], tmp_path, data_root=generated_root, engine=QUIET)
    with pytest.raises(BiasbenchError, match="at least one probe"):
        biasbench.run_study(MODELS, [biasbench.Step(())], tmp_path, data_root=generated_root, engine=QUIET)


def test_progress_eta_uses_the_time_of_jobs_of_the_same_kind(monkeypatch):
    def job(model, probe):
        return Job(model, probe, "d", {}, 0, None, "fp32", f"{model}{probe}", "m", "d")

    jobs = [job(m, p) for m in "ab" for p in ("slow", "fast")]
    clock = iter([0.0, 10.0, 10.0])
    local = importlib.import_module("biasbench.run.local")  # `biasbench.run` the attribute is the function
    monkeypatch.setattr(local, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    progress = Progress(jobs)
    assert progress.line(0) == "elapsed 0:10"  # nothing timed yet: no ETA
    progress.loaded(5.0)
    progress.done(jobs[0], 60.0)
    progress.done(jobs[1], 2.0)
    # left: slow 60 + fast 2 for model b, plus one more model load of 5 s
    assert progress.line(2) == "elapsed 0:10, ETA 1:07"
