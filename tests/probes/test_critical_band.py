"""``critical-band`` probe: protocols A and B, adaptive search, records, figure, real images."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from biasbench.core.channel_fit import BANDS, NOISE_SDS, find_thresholds, fit_channel
from biasbench.core.errors import BiasbenchError
from biasbench.data.datasets import Dataset, Sample, get_dataset_spec
from biasbench.data.labels.spaces import get_label_space
from biasbench.data.pixels.transforms import image_transform
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.perturb.critical_band import CriticalBandStimuli
from biasbench.probes import ProbeContext, get_probe
from biasbench.probes.critical_band import assigned_conditions, bisect_thresholds, relabel_to_categories16
from biasbench.probes.outputs import feed_of
from biasbench.store.conditions import NoiseCell

ENGINE = EngineConfig(device="cpu", batch_size=4, num_workers=0, progress=False)


def _run(model, dataset, **params):
    probe = get_probe("critical-band").with_overrides(params)
    return probe.run(ProbeContext(model, dataset, Engine(ENGINE), seed=0))


def _grid(records) -> np.ndarray:
    by = {r.condition: 100 * r.value for r in records if r.metric == "top1"}
    grid = np.full((5, 7), np.nan)
    grid[0] = by["noise-free"]
    for i, s in enumerate(NOISE_SDS[1:], start=1):
        for f in BANDS:
            grid[i, f] = by.get(str(NoiseCell(s, f)), np.nan)
    return grid


@pytest.fixture(scope="module")
def model224(tiny_model):
    """The tiny model at the study's 224 px input, so its stimuli need no resize."""
    from biasbench.core.preprocessing import Preprocess
    from biasbench.models import Classifier

    return Classifier(tiny_model.net, name="tiny-224", mean=(0.5,) * 3, std=(0.5,) * 3, preprocess=Preprocess())


@pytest.fixture(scope="module")
def predicted_dataset(generated_root, model224):
    """Six images relabelled with the tiny model's own noise-free decision (so noise-free accuracy is 100 %
    and noise lowers it: thresholds are not trivially flat), and the full protocol-B run on them."""
    dataset = get_dataset_spec("imagenet-sample").load(generated_root).head(6)
    noise_free = CriticalBandStimuli(seed=0).perturbation(0.0, 0)
    engine = Engine(ENGINE)
    feed = feed_of(engine, dataset, image_transform(dataset, model224.preprocess))
    result = engine.run(model224, feed, get_label_space("imagenet").reducer(), conditions={"nf": noise_free})
    decisions = result.outputs["nf"]["topk"][:, 0]
    relabelled = Dataset(
        dataset.spec,
        dataset.folder,
        tuple(Sample(s.path, int(d)) for s, d in zip(dataset.samples, decisions, strict=True)),
    )
    return relabelled, _run(model224, relabelled)


def test_protocol_b_records(predicted_dataset, model224):
    _, out = predicted_dataset
    conditions = [r.condition for r in out.records if r.metric == "top1"]
    assert len(conditions) == 29 and "noise-free" in conditions and "sigma/0.16/band/6" in conditions
    assert out.notes["evaluated_conditions"] == 29
    by = {(r.metric, r.condition): r.value for r in out.records}
    thresholds = [by[("threshold", f"band/{f}")] for f in BANDS]
    ref = by[("reference_accuracy", "noise-free")] * 100
    assert thresholds == find_thresholds(_grid(out.records), 50, ref).tolist()
    assert thresholds == [0, 0, 0, 0, 0, 1, 0]  # the tiny model: one peak, in band 5
    fit = fit_channel(thresholds)  # the channel parameters are the fit of exactly these thresholds
    assert by[("fit_degenerate", "")] == 0.0 and not fit.degenerate
    for name in ("bandwidth", "center_frequency", "peak_noise_sensitivity"):
        assert by[(name, "")] == getattr(fit, name)


def test_adaptive_matches_full_grid_with_fewer_evaluations(predicted_dataset, model224):
    dataset, full = predicted_dataset
    adaptive = _run(model224, dataset, adaptive=True)
    thresholds = {
        name: [r.value for r in out.records if r.metric == "threshold"]
        for name, out in (("full", full), ("adaptive", adaptive))
    }
    assert {r.condition: r.value for r in full.records if r.metric == "top1"}["noise-free"] == 1.0
    assert thresholds["adaptive"] == thresholds["full"]
    assert len(set(thresholds["full"])) > 1  # a non-trivial vector
    assert adaptive.notes["evaluated_conditions"] < full.notes["evaluated_conditions"]
    full_acc = {r.condition: r.value for r in full.records if r.metric == "top1"}
    for r in adaptive.records:  # identical stimuli: every measured cell agrees with the full grid
        if r.metric == "top1":
            assert r.value == full_acc[r.condition]


def test_protocol_a_assigns_one_condition_per_image(generated_root, model224):
    dataset = get_dataset_spec("imagenet-sample").load(generated_root)
    sixteen = relabel_to_categories16(dataset)
    assert len(sixteen) == 207  # members of the 16 categories, one image per ImageNet class
    assert {s.meta["imagenet_label"] for s in sixteen.samples if s.label == 0} == {404}  # airplane
    members = {s.meta["imagenet_label"] for s in sixteen.samples}
    subset = Dataset(dataset.spec, dataset.folder, tuple(s for s in dataset.samples if s.label in members)[:40])
    out = _run(model224, subset, protocol="A")
    cells = [r for r in out.records if r.metric == "top1" and r.condition.startswith("sigma/")]
    assert len(cells) == 35 and sum(r.n for r in cells) == 40
    sigmas, bands = assigned_conditions(np.arange(40), 0)  # seeded by the index in the 16-category view
    assert set(out.samples["condition"]) == {"assigned"}
    assert out.samples["sigma"].tolist() == sigmas.tolist() and out.samples["band"].tolist() == bands.tolist()
    assert out.notes["reference"] == "absolute"


def test_assignment_is_seeded_per_image_and_roughly_uniform():
    idx = np.arange(3500)
    s1, b1 = assigned_conditions(idx, 0)
    s2, b2 = assigned_conditions(idx[::-1], 0)
    assert np.array_equal(s1, s2[::-1]) and np.array_equal(b1, b2[::-1])
    counts = pd.crosstab(s1, b1).to_numpy()
    assert counts.shape == (5, 7) and counts.min() > 60 and counts.max() < 140


def test_parameter_errors():
    with pytest.raises(BiasbenchError):
        get_probe("critical-band").with_overrides({"protocol": "C"})
    probe = get_probe("critical-band").with_overrides({"protocol": "A", "adaptive": True})
    with pytest.raises(BiasbenchError, match="adaptive"):
        probe.run(ProbeContext(None, None, None))


def test_the_reference_is_keyed_as_the_plain_string_it_always_was():
    """``reference`` is the one ``Reference`` choice now; the job key reads the same strings as before."""
    for value in ("absolute", "noise-free", "clean"):
        probe = get_probe("critical-band").with_overrides({"reference": value})
        assert probe.params_dict()["reference"] == value and type(probe.params_dict()["reference"]) is str
        assert probe.reference == value
    assert get_probe("critical-band").with_overrides({"protocol": "A"}).reference == "absolute"
    assert (
        get_probe("critical-band")().params_dict()["reference"] is None
        and get_probe("critical-band")().reference == "noise-free"
    )


def test_noise_sensitivity_figure():
    from biasbench.plots.frequency import noise_sensitivity_figure

    rows = [
        {"model": "net", "probe": "critical-band", "metric": "threshold", "condition": f"band/{f}", "value": t}
        for f, t in enumerate((0, 0, 2, 2, 3, 4, 2))
    ]
    fig = noise_sensitivity_figure(pd.DataFrame(rows))
    ax = fig.axes[0]
    assert len(ax.lines) == 4  # dots + fitted curve for the model and for humans
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1.75", "3.5", "7", "14", "28", "56", "112"]


@pytest.mark.realdata
def test_real_images_efficientnet_lite0(data_root):
    from biasbench.models import load_model

    dataset = get_dataset_spec("imagenet-sample").load(data_root).head(4)
    out = _run(load_model("bundled:efficientnet_lite0"), dataset)
    by = {(r.metric, r.condition): r.value for r in out.records}
    grid = _grid(out.records)
    assert np.all((grid >= 0) & (grid <= 100))
    assert by[("top1", "noise-free")] >= 0.25
    # the strongest noise in the mid bands hurts at least as much as none
    assert grid[4, 3:6].mean() <= grid[0, 0]
    assert all(by[("threshold", f"band/{f}")] in {0, 1, 2, 3, 4} for f in BANDS)


def _monotone_grids():
    """Grids whose accuracy never rises with noise, covering every threshold per band."""
    for t in itertools.product(range(5), repeat=2):
        grid = np.full((5, 7), 20.0)
        grid[0, :] = 90
        for f in range(7):
            tf = t[f % 2] if f < 6 else 4
            for j in range(tf, 4):  # levels j ≥ t_f pass (j indexes σ from strongest)
                grid[4 - j, f] = 80
        yield grid


def test_bisection_gives_the_full_grid_thresholds_with_fewer_evaluations():
    for grid in _monotone_grids():
        asked = []

        def evaluate(cells, grid=grid, asked=asked):
            asked.extend(cells)
            return {(s, f): grid[NOISE_SDS.index(s), f] for s, f in cells}

        found = bisect_thresholds(evaluate, 50.0, lambda: None)
        assert found.tolist() == find_thresholds(grid).tolist()
        assert len(asked) < 4 * 7 and len(set(asked)) == len(asked)
        assert max(len([c for c in asked if c[1] == f]) for f in range(7)) <= 3
