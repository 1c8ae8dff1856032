"""The test-resolution sweep: the pixel pipeline at r, BatchNorm re-estimation (exact statistics, original
model untouched), and the probe end to end (naive at the native size equals the accuracy probe)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.core.preprocessing import Preprocess
from biasbench.data.datasets import get_dataset_spec
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models.wrapper import Classifier
from biasbench.probes import ProbeContext, get_probe
from biasbench.probes.resolution import recalibrated_copy, transform_at

ENGINE = EngineConfig(device="cpu", batch_size=64, progress=False, num_workers=0)


@pytest.fixture(scope="module")
def sample(generated_root):
    return get_dataset_spec("imagenet-sample").load(generated_root).head(12)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _ConvBN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4, 1000)

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean((2, 3)))


def test_transform_at_resizes_the_shorter_side_then_crops(sample):
    from biasbench.data.pixels.images import model_pixels

    model = Classifier(_ConvBN(), name="toy", preprocess=Preprocess((224, 224), 0.875, "bilinear"))
    for r in (64, 96):
        t = transform_at(sample, model, r)
        image = t(sample.samples[0].path)
        assert image.shape == (3, r, r)
        from PIL import Image

        expected = model_pixels(Image.open(sample.samples[0].path).convert("RGB"), Preprocess((r, r), 0.875))
        np.testing.assert_array_equal(image.numpy(), np.asarray(expected))
        assert t.preprocess.resize == (int(r / 0.875),) * 2  # timm floors r / crop_pct


def test_native_sets_are_resized_directly_to_r(generated_root):
    cue = get_dataset_spec("cue-conflict").load(generated_root)
    model = Classifier(_ConvBN(), name="toy")
    assert transform_at(cue, model, 48)(cue.samples[0].path).shape == (3, 48, 48)


def test_bn_recalibration_is_exact_and_leaves_the_model_untouched(sample):
    model = Classifier(_ConvBN(), name="toy", mean=(0, 0, 0), std=(1, 1, 1))
    before, modes = _snapshot(model), [m.training for m in model.modules()]
    engine = Engine(ENGINE)  # one batch holds all 12 images: the statistics are exactly the batch's
    transform = transform_at(sample, model, 40)
    clone = recalibrated_copy(model, engine, sample, transform)
    after = _snapshot(model)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == modes and not clone.net.bn.training
    x = torch.stack([transform(s.path) for s in sample.samples]).float() / 255
    with torch.no_grad():
        z = model.net.conv(x)
    torch.testing.assert_close(clone.net.bn.running_mean, z.mean((0, 2, 3)))
    torch.testing.assert_close(clone.net.bn.running_var, z.var((0, 2, 3), unbiased=True))
    assert clone.net.bn.momentum == model.net.bn.momentum == 0.1
    torch.testing.assert_close(clone.net.conv.weight, model.net.conv.weight)


def _run(model, dataset, **params):
    return get_probe("resolution").with_overrides(params).run(ProbeContext(model, dataset, Engine(ENGINE)))


def test_resolution_probe_end_to_end(sample, tiny_model):
    native = tiny_model.preprocess.input_size[0]
    before = _snapshot(tiny_model)
    out = _run(tiny_model, sample, resolutions=[32, native], calibration_images=8)
    assert all(torch.equal(v, tiny_model.state_dict()[k]) for k, v in before.items())
    by = {(r.metric, r.condition): r for r in out.records}
    for protocol in ("naive", "bn"):
        cells = {r: by[("top1", f"{protocol}/{r}")].value for r in (32, native)}
        best_r = by[("best_resolution", protocol)].value
        assert cells[int(best_r)] == max(cells.values()) == by[("best_top1", protocol)].value
    accuracy = get_probe("accuracy")().run(ProbeContext(tiny_model, sample, Engine(ENGINE)))
    top1 = {r.metric: r.value for r in accuracy.records}["top1"]
    assert by[("top1", f"naive/{native}")].value == top1
    assert out.notes["calibration"] == "imagenet-sample (8 seeded random images)"
    assert "calibration_overlap" not in out.notes  # 8 random images of 1000 miss the 12 evaluated ones
    overlap = _run(tiny_model, sample, resolutions=[32], protocols=["bn"], calibration_images=1000)
    assert overlap.notes["calibration_overlap"].startswith("12 calibration images")


def test_calibration_images_are_a_seeded_spread_subset(sample, generated_root):
    from biasbench.probes.resolution import calibration_subset

    ctx = ProbeContext(None, sample, Engine(ENGINE), seed=3)
    subset = calibration_subset("imagenet-sample", 50, ctx)
    labels = [s.label for s in subset.samples]
    assert len(labels) == 50 and labels == sorted(labels) and max(labels) > 500  # not the first 50 classes
    assert labels == [s.label for s in calibration_subset("imagenet-sample", 50, ctx).samples]
    assert len(calibration_subset("imagenet-sample", 5000, ctx)) == 1000


def test_bad_parameters_are_refused():
    from biasbench.core.errors import BiasbenchError

    with pytest.raises(BiasbenchError, match="resolutions"):
        get_probe("resolution").with_overrides({"resolutions": [0, 224]})
    with pytest.raises(BiasbenchError, match="protocols"):
        get_probe("resolution").with_overrides({"protocols": ["fixres-head"]})


def test_models_without_batchnorm_get_the_naive_protocol_with_a_note(sample):
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
    out = _run(Classifier(net, name="nobn"), sample, resolutions=[16])
    assert {r.condition for r in out.records} == {"naive/16", "naive"}
    assert "no BatchNorm" in out.notes["bn"]


@pytest.mark.slow
@pytest.mark.realdata
def test_efficientnet_lite0_resolution_sweep(data_root):
    from biasbench.models import load_model

    model = load_model("bundled:efficientnet_lite0")
    dataset = get_dataset_spec("imagenet-sample").load(data_root).head(16)
    before = _snapshot(model)
    out = _run(model, dataset, resolutions=[96, 224], calibration_images=16)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    by = {(r.metric, r.condition): r.value for r in out.records}
    assert by[("top1", "naive/224")] >= 0.5
    assert by[("top1", "naive/96")] < by[("top1", "naive/224")]  # far below the training resolution it degrades
