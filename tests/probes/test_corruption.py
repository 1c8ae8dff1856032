"""The corruption probe: on-disk ImageNet-C records, generated records and their names, mCE arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.core.preprocessing import Preprocess
from biasbench.data.catalogue.corruption_sets import IMAGENET_C_CORRUPTIONS
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.imagenet import imagenet_wnids
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models.wrapper import Classifier
from biasbench.probes import get_probe
from biasbench.probes.base import ProbeContext
from biasbench.probes.corruption import (
    ALEXNET_CLEAN_ERROR,
    ALEXNET_ERRORS,
    IMAGENET_C_PREPROCESS,
    mean_corruption_error,
    relative_mce,
    summary_records,
)
from tests.conftest import make_imagenet_sample
from tests.fixtures_layouts import make_corruptions

ENGINE = Engine(EngineConfig(device="cpu", batch_size=8, progress=False))


def test_mce_is_one_for_alexnet_and_relative_mce():
    acc = {(c, s): 1 - e for c, e in ALEXNET_ERRORS.items() for s in range(1, 6)}
    acc[("speckle_noise", 1)] = 0.5  # extra corruptions carry no AlexNet reference and are ignored
    mce, ce = mean_corruption_error(acc)
    assert mce == pytest.approx(1.0) and len(ce) == 15
    assert relative_mce(acc, 1 - ALEXNET_CLEAN_ERROR) == pytest.approx(1.0)
    half = {k: 1 - (1 - v) / 2 for k, v in acc.items() if k[0] in ALEXNET_ERRORS}
    assert mean_corruption_error(half)[0] == pytest.approx(0.5)


def test_ondisk_records(tmp_path, tiny_model):
    wnids = imagenet_wnids()[:2]
    make_corruptions(tmp_path / "imagenet-c", ["gaussian_noise", "fog"], ["1", "2", "3", "4", "5"], wnids)
    ds = get_dataset_spec("imagenet-c").load(tmp_path, check_count=False)
    out = get_probe("corruption").with_overrides({"severities": (1, 5)}).run(ProbeContext(tiny_model, ds, ENGINE))
    rec = {(r.metric, r.condition): r for r in out.records}
    sets = [rec[("top1", f"ondisk/{c}/{s}")] for c in ("fog", "gaussian_noise") for s in (1, 5)]
    assert all(r.n == 2 for r in sets)
    subset = rec[("mean_accuracy_subset", "ondisk/fog+gaussian_noise/severities=1,5")]
    assert subset.value == pytest.approx(np.mean([r.value for r in sets])) and subset.n == 8
    assert rec[("mce_subset", "ondisk/fog+gaussian_noise/severities=1,5")].n == 2
    assert not {"mean_accuracy", "mce", "relative_mce", "relative_mce_subset"} & {m for m, _ in rec}
    assert set(out.samples["corruption"]) == {"fog", "gaussian_noise"} and set(out.samples["severity"]) == {1, 5}
    with pytest.raises(Exception, match="does not fit"):
        get_probe("corruption").with_overrides({"mode": "generated"}).run(ProbeContext(tiny_model, ds, ENGINE))


def test_generated_records(tmp_path, tiny_model):
    make_imagenet_sample(tmp_path, count=4)
    ds = get_dataset_spec("imagenet-sample").load(tmp_path, check_count=False)
    probe = get_probe("corruption").with_overrides(
        {"corruptions": ("contrast", "jpeg_compression"), "severities": (1, 2)}
    )
    out = probe.run(ProbeContext(tiny_model, ds, ENGINE))
    conds = {r.condition for r in out.records if r.metric == "top1"} - {""}  # "": the unperturbed images
    assert conds == {f"generated/{c}/{s}" for c in ("contrast", "jpeg_compression") for s in (1, 2)}
    metrics = {r.metric for r in out.records}
    assert {"top1", "mean_accuracy_subset", "mce_subset", "relative_mce_subset", "ce"} <= metrics
    assert not {"mean_accuracy", "mce", "relative_mce"} & metrics  # a 2-corruption subset is never "the" mCE
    subset = next(r for r in out.records if r.metric == "mean_accuracy_subset")
    assert subset.condition == "generated/contrast+jpeg_compression/severities=1,2"
    assert set(out.samples["condition"]) == conds | {"clean"}
    assert out.notes["save_as"] == "jpeg85" and out.notes["corruptions"] == ["contrast", "jpeg_compression"]
    with pytest.raises(Exception, match="save_as"):
        get_probe("corruption").with_overrides({"save_as": "png"}).run(ProbeContext(tiny_model, ds, ENGINE))


def test_canonical_names_only_on_the_complete_set():
    full = {(c, s): 0.5 for c in IMAGENET_C_CORRUPTIONS for s in range(1, 6)}
    names = {r.metric: r.condition for r in summary_records("generated", full, 10, 0.8, IMAGENET_C_CORRUPTIONS)}
    assert names["mean_accuracy"] == names["mce"] == names["relative_mce"] == "generated"
    standard = {k: v for k, v in full.items() if k[0] in ALEXNET_ERRORS}  # the 15: canonical mCE, subset mean
    names = {r.metric: r.condition for r in summary_records("generated", standard, 10, 0.8, IMAGENET_C_CORRUPTIONS)}
    assert names["mce"] == "generated" and "mean_accuracy" not in names
    assert names["mean_accuracy_subset"] == "generated/" + "+".join(sorted(ALEXNET_ERRORS))
    partial = {k: v for k, v in full.items() if k != ("fog", 3)}  # one set missing: nothing canonical
    metrics = {r.metric for r in summary_records("generated", partial, 10, 0.8, IMAGENET_C_CORRUPTIONS)}
    assert {"mean_accuracy_subset", "mce_subset", "relative_mce_subset"} <= metrics
    assert not {"mean_accuracy", "mce", "relative_mce"} & metrics


@pytest.mark.realdata
@pytest.mark.slow
def test_accuracy_falls_with_severity_on_real_images(data_root):
    """On real ImageNet images with a real model, mean accuracy over corruptions drops from severity 1 to 5."""
    from biasbench.models import load_model

    ds = get_dataset_spec("imagenet-sample").load(data_root).head(4)
    model = load_model("bundled:efficientnet_lite0")
    probe = get_probe("corruption").with_overrides(
        {"corruptions": ("gaussian_noise", "contrast"), "severities": (1, 5)}
    )
    out = probe.run(ProbeContext(model, ds, ENGINE))
    top1 = {r.condition: r.value for r in out.records if r.metric == "top1"}
    by_sev = [np.mean([v for k, v in top1.items() if k.endswith(f"/{s}")]) for s in (1, 5)]
    clean = top1.pop("")
    assert clean >= by_sev[0] > by_sev[1], (clean, by_sev)


class ShapeRecorder(torch.nn.Module):
    """A 1000-way stand-in network that records the input sizes it is fed."""

    def __init__(self):
        super().__init__()
        self.sizes: set[tuple[int, int]] = set()

    def forward(self, x):
        self.sizes.add(tuple(x.shape[-2:]))
        return x.mean((2, 3)).repeat(1, 334)[:, :1000]


@pytest.mark.parametrize(("input_size", "fed"), [("imagenet-c", (224, 224)), ("model", (96, 96))])
def test_input_size_protocol(tmp_path, input_size, fed):
    """ImageNet-C's protocol (default) feeds 256-resized, 224-cropped images to every model; ``model`` uses the
    model's own input size. Clean and corrupted images go through the same pipeline."""
    make_imagenet_sample(tmp_path, count=3)
    ds = get_dataset_spec("imagenet-sample").load(tmp_path, check_count=False)
    net = ShapeRecorder()
    model = Classifier(net, name="recorder", preprocess=Preprocess(input_size=(96, 96)))
    probe = get_probe("corruption").with_overrides(
        {"corruptions": ("contrast",), "severities": (2,), "input_size": input_size}
    )
    out = probe.run(ProbeContext(model, ds, ENGINE))
    assert net.sizes == {fed} and out.notes["input_size"] == input_size
    assert IMAGENET_C_PREPROCESS.resize == (256, 256) and IMAGENET_C_PREPROCESS.interpolation == "bilinear"
