"""Generated corruptions (determinism, severity ordering), on-disk ImageNet-C records, mCE arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.data.datasets import get_dataset_spec
from biasbench.data.imagenet import imagenet_wnids
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.perturb.corruptions import CORRUPTIONS, get_corruption
from biasbench.probes import get_probe
from biasbench.probes.base import ProbeContext
from biasbench.probes.corruption import ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS, mean_corruption_error, relative_mce
from tests.conftest import make_imagenet_sample
from tests.fixtures_layouts import make_corruptions

ENGINE = Engine(EngineConfig(device="cpu", batch_size=8, progress=False))


def smooth_images(n: int = 4, size: int = 64) -> torch.Tensor:
    """Natural-ish images in [0,1]: colour gradients plus low-frequency random texture (so that coarser
    pixelation and stronger blur lose more, as on photographs)."""
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, size)
    base = (t[None, :] + t[:, None]) / 2
    x = torch.stack([base, base.flip(0), base.flip(1)])[None].repeat(n, 1, 1, 1)
    texture = torch.nn.functional.interpolate(torch.rand(n, 3, 12, 12, generator=g), size=(size, size), mode="bilinear")
    return (0.5 * x + 0.5 * texture).clamp(0, 1)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_shape_range_and_per_sample_determinism(name):
    x = smooth_images()
    idx = torch.arange(10, 14)
    c = get_corruption(name)
    assert len(c.params) == 5
    out = c(x, 3, idx, seed=0)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.allclose(out, x)
    # a sample's corruption depends on its index, not on the batch it is in
    assert torch.allclose(c(x[1:3], 3, idx[1:3], seed=0), out[1:3], atol=1e-6)


@pytest.mark.parametrize("name", sorted(set(CORRUPTIONS) - {"saturate"}))  # saturate's levels are not ordered
def test_distortion_grows_with_severity(name):
    x, idx = smooth_images(), torch.arange(4)
    mse = [float(((get_corruption(name)(x, s, idx) - x) ** 2).mean()) for s in range(1, 6)]
    assert mse[-1] > mse[0] and sum(b >= a for a, b in zip(mse, mse[1:], strict=False)) >= 3, mse


def test_noise_seeded_by_seed_and_index():
    x, idx = smooth_images(2), torch.tensor([0, 1])
    gn = get_corruption("gaussian_noise")
    assert torch.equal(gn(x, 2, idx, 0), gn(x, 2, idx, 0))
    assert not torch.equal(gn(x, 2, idx, 0), gn(x, 2, idx, 1))


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
    assert rec[("mean_accuracy", "ondisk")].value == pytest.approx(np.mean([r.value for r in sets]))
    assert rec[("mean_accuracy", "ondisk")].n == 8
    assert rec[("mce", "ondisk")].n == 2 and ("relative_mce", "ondisk") not in rec
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
    conds = {r.condition for r in out.records if r.metric == "top1"}
    assert conds == {f"generated/{c}/{s}" for c in ("contrast", "jpeg_compression") for s in (1, 2)}
    metrics = {r.metric for r in out.records}
    assert {"clean_accuracy", "mean_accuracy", "mce", "relative_mce", "ce", "corruption_accuracy"} <= metrics
    assert set(out.samples["condition"]) == conds | {"clean"}


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
    clean = next(r.value for r in out.records if r.metric == "clean_accuracy")
    assert clean >= by_sev[0] > by_sev[1], (clean, by_sev)
