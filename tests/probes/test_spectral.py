"""``spectral`` probe: records, condition names, the scalar biases, the figure, and real images."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from biasbench.core.errors import BiasbenchError
from biasbench.data.datasets import get_dataset_spec
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.probes import ProbeContext, get_probe
from biasbench.probes.spectral import spectral_bias_records
from biasbench.store.conditions import Filter, number

ENGINE = EngineConfig(device="cpu", batch_size=2, num_workers=0, progress=False)


def test_condition_names_are_clean_decimals():
    assert str(Filter("lowpass", 0.1 + 0.2)) == "lowpass/0.3"
    assert [number(c) for c in (0.01, 0.5, 0.99, 1.0)] == ["0.01", "0.5", "0.99", "1"]


def test_scalar_biases_reproduce_tv_resnet50_reference():
    """METHODS §3.4: tv_resnet50 LFC 0.178/0.530/0.727/0.830/0.900 → 0.633; HFC … → 0.0069."""
    lfc = dict(zip((0.1, 0.2, 0.3, 0.4, 0.5), (0.178, 0.530, 0.727, 0.830, 0.900), strict=True))
    hfc = dict(zip((0.1, 0.2, 0.3, 0.4, 0.5), (0.0019, 0.0034, 0.0052, 0.0090, 0.0150), strict=True))
    ratios = {("lowpass", c): v for c, v in lfc.items()} | {("highpass", c): v for c, v in hfc.items()}
    rec = {r.metric: r.value for r in spectral_bias_records(ratios)}
    assert rec["low_freq_bias"] == pytest.approx(0.633)
    assert rec["high_freq_bias"] == pytest.approx(0.0069)
    assert rec["spectral_bias"] == pytest.approx(0.0069 / (0.633 + 0.0069))


def test_parameters_are_validated():
    spectral = get_probe("spectral")
    assert spectral.with_overrides({"mask": "radial"}).params.mask == "radial"
    with pytest.raises(BiasbenchError, match="bias_cutoffs"):
        spectral.with_overrides({"cutoffs": [0.5], "bias_cutoffs": [0.3]})
    with pytest.raises(BiasbenchError):
        spectral.with_overrides({"mask": "hexagonal"})


def _run(model, dataset, **params):
    probe = get_probe("spectral").with_overrides(params)
    return probe.run(ProbeContext(model, dataset, Engine(ENGINE), seed=0))


def test_records_on_tiny_model(generated_root, tiny_model):
    dataset = get_dataset_spec("imagenet-sample").load(generated_root).head(3)
    out = _run(tiny_model, dataset)
    by = {(r.metric, r.condition): r for r in out.records}
    top1_conditions = sorted(c for m, c in by if m == "top1")
    assert len(top1_conditions) == 23 and "" in top1_conditions and "highpass/0.3" in top1_conditions
    assert sum(m == "ratio_to_clean" for m, _ in by) == 22
    # top1 is recomputed from the stored per-sample outputs (3 images × 23 conditions)
    samples = out.samples
    assert len(samples) == 3 * 23
    for table, condition in (("clean", ""), ("lowpass/0.5",) * 2, ("highpass/0.99",) * 2):
        rows = samples[samples["condition"] == table]  # per-sample tables keep the engine's condition names
        hits = np.mean([row[0] == label for row, label in zip(rows["topk"], rows["label"], strict=True)])
        assert by[("top1", condition)].value == pytest.approx(hits)
    clean = by[("top1", "")].value
    ratio = by[("ratio_to_clean", "lowpass/0.5")].value
    assert (math.isnan(ratio) and clean == 0) or ratio == pytest.approx(by[("top1", "lowpass/0.5")].value / clean)
    assert {"low_freq_bias", "high_freq_bias", "spectral_bias"} <= {m for m, _ in by}


def test_figure_from_records():
    rows = [
        {"model": model, "probe": "spectral", "metric": "ratio_to_clean", "condition": f"{kind}/{c}", "value": c * k}
        for model, k in (("a", 1.0), ("b", 0.5))
        for kind in ("lowpass", "highpass")
        for c in (0.99, 0.1, 0.5)
    ]
    from biasbench.plots.frequency import spectral_figure

    fig = spectral_figure(pd.DataFrame(rows))
    low, high = fig.axes
    assert len(low.lines) == 2 and len(high.lines) == 2
    assert list(low.lines[0].get_xdata()) == [10.0, 50.0, 99.0]  # sorted, in percent
    assert list(low.lines[1].get_ydata()) == [0.05, 0.25, 0.495]


@pytest.mark.realdata
def test_real_images_efficientnet_lite0(data_root):
    from biasbench.models import load_model

    dataset = get_dataset_spec("imagenet-sample").load(data_root).head(8)
    model = load_model("bundled:efficientnet_lite0")
    out = _run(model, dataset, cutoffs=[0.01, 0.5, 0.99], bias_cutoffs=[0.5])
    by = {(r.metric, r.condition): r.value for r in out.records}
    assert by[("top1", "")] >= 0.5
    assert by[("ratio_to_clean", "lowpass/0.99")] >= 0.8  # keeps nearly the whole spectrum
    assert by[("ratio_to_clean", "highpass/0.01")] <= 0.3  # removes nearly all of it
    assert by[("ratio_to_clean", "lowpass/0.01")] <= 0.3
