"""A new bias in one module: a toy probe in a temporary package, registered the way a third-party probe is
(its module imported, ``@register_probe``), run with shape-bias on three tiny random models and generated data,
is found in the bias table, the bias-bias and bias-score correlations, the joint prediction's inputs and the
generated report (its own section, by id and title)."""

from __future__ import annotations

import importlib
import re
import sys

import numpy as np
import pandas as pd
import pytest

import biasbench
from biasbench.analysis.explain import explain
from biasbench.analysis.pipeline import analyse
from biasbench.analysis.specs import SCORES, bias_names
from biasbench.engine import EngineConfig
from biasbench.probes import PROBES
from biasbench.report.html import write_report

TOY = '''
"""A toy bias: how much of the label's probability a model keeps when the image is darkened."""

from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.store.metrics import Metric
from biasbench.store.records import Record

DARK_BIAS = Metric("dark-bias", "dark_bias", "Dark bias", "ratio", "more label probability kept in the dark",
                   role="bias", noun="dark bias")


@register_probe
class DarkBias(Probe):
    name = "dark-bias"
    summary = "p(label) on images at half brightness / on the originals"
    default_datasets = ("imagenet-sample",)
    metrics = (DARK_BIAS,)

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        run = evaluate_labelled(ctx, conditions={"clean": None, "dark": lambda x, idx: x * 0.5})
        clean, dark = (run.result.outputs[c]["p_label"].mean() for c in ("clean", "dark"))
        records = [Record("dark_bias", float(dark / clean), len(run.samples))]
        return ProbeOutput(records, outputs_frame(ctx.dataset, run.result))
'''

MODELS = [f"timm:{name}?pretrained=false" for name in ("test_resnet", "test_efficientnet", "test_vit")]


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    package = tmp_path / "pkg" / "toy_biases"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "dark.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    importlib.import_module("toy_biases.dark")
    yield "dark-bias"
    PROBES.pop("dark-bias", None)
    for name in [m for m in sys.modules if m.startswith("toy_biases")]:
        del sys.modules[name]


def _scores(models: list[str]) -> pd.DataFrame:
    """Every score member's record for each model (random accuracies), so the correlations have a right side."""
    rng = np.random.default_rng(0)
    rows = [
        {"model": m, "probe": member.probe, "dataset": member.dataset, "metric": member.metric,
         "condition": member.condition, "value": rng.uniform(0.2, 0.8), "n": 100, "job": f"scores-{m}", "caveat": ""}
        for m in models for s in SCORES for member in s.members
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_a_toy_probe_reaches_the_analysis_and_the_report(toy_package, generated_root, tmp_path):
    assert "dark_bias" in bias_names()
    steps = [biasbench.Step(("shape-bias",), params={"shape-bias": {"bootstrap_reps": 10}}),
             biasbench.Step((toy_package,), ("imagenet-sample",), limit=8)]  # fmt: skip
    result = biasbench.run_study(MODELS, steps, tmp_path / "results", data_root=generated_root,
                                 engine=EngineConfig(batch_size=16, progress=False), report=lambda m: None)  # fmt: skip
    assert not result.summary.failed
    records = biasbench.load_results(tmp_path / "results")
    toy = records[records["metric"] == "dark_bias"].set_index("model")["value"]
    assert len(toy) == 3 and toy.notna().all()

    analysis = analyse(pd.concat([records, _scores(list(toy.index))], ignore_index=True), n_boot=20, n_perm=20)
    np.testing.assert_allclose(analysis.biases["dark_bias"].reindex(toy.index), toy)
    assert set(analysis.correlations["bias"]) >= {"dark_bias", "shape_bias"}
    pairs = set(zip(analysis.bias_bias["bias"], analysis.bias_bias["benchmark"], strict=True))
    assert ("shape_bias", "dark_bias") in pairs or ("dark_bias", "shape_bias") in pairs

    html = write_report(analysis, tmp_path / "report" / "report.html").read_text()
    assert re.search(r'id="dark-bias"', html), "the toy bias has its own section"
    assert "Dark bias" in html and "more label probability kept in the dark" in html
    assert (tmp_path / "report" / "figures" / "dark_bias.png").exists()


def test_the_joint_prediction_uses_a_declared_bias(toy_package):
    rng = np.random.default_rng(1)
    models = pd.Index([f"m{i}" for i in range(12)], name="model")
    biases = pd.DataFrame({"shape_bias": rng.uniform(0, 1, 12), "dark_bias": rng.uniform(0, 1, 12)}, index=models)
    scores = pd.DataFrame({s.name: rng.uniform(20, 80, 12) for s in SCORES}, index=models)
    scores["imagenet_top1"] = rng.uniform(50, 80, 12)
    explained = explain(scores, biases, None, n_perm=10, n_boot=0, seed=0)
    assert "dark_bias" in set(explained.importance["feature"])
