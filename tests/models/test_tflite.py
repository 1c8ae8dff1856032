"""tflite: source: the coral quantized MobileNets as float, differentiable torch modules that agree with the
reference TFLite interpreter (LiteRT, optional) on the coral test photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.models import load_model
from biasbench.models.tflite.ops import same_padding
from tests.conftest import require

CORAL = {  # demo-zoo id -> input size
    "mobilenet_v1_0.25_128_quant": 128,
    "mobilenet_v1_0.5_160_quant": 160,
    "mobilenet_v1_0.75_192_quant": 192,
    "mobilenet_v2_1.0_224_quant": 224,
    "tf2_mobilenet_v2_1.0_224_ptq": 224,
}


def test_tf_same_padding_puts_the_odd_pixel_after():
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(112, 3, 1) == (1, 1)
    assert same_padding(7, 1, 1) == (0, 0)
    assert same_padding(5, 3, 2, dilation=2) == (2, 2)


@pytest.fixture(scope="module")
def coral(data_root):
    pytest.importorskip("tflite", reason="the tflite: source needs the 'tflite' package (biasbench[tflite])")
    return require(data_root, "coral-test-data")


@pytest.fixture(scope="module")
def converted(coral) -> dict:
    """The five float-converted models, converted once for the module."""
    return {model_id: load_model(f"tflite:{coral}/models/{model_id}.tflite") for model_id in CORAL}


@pytest.mark.realdata
def test_demo_ids_resolve_through_the_data_root(coral, monkeypatch):
    from biasbench.core.downloads import expand_path
    from biasbench.models import ModelSpec

    monkeypatch.setenv("BIASBENCH_DATA", str(coral.parent))
    for model_id in CORAL:
        spec = ModelSpec.parse(model_id)
        assert spec.source == "tflite" and expand_path(spec.ref) == (coral / "models" / f"{model_id}.tflite").resolve()


def coral_photos(coral) -> list[Image.Image]:
    paths = sorted(p for p in (coral / "images").iterdir() if "mask" not in p.name)
    assert len(paths) == 13
    return [Image.open(p).convert("RGB") for p in paths]


@pytest.mark.realdata
def test_converted_models_are_differentiable_1000_way_classifiers(converted):
    for model_id, size in CORAL.items():
        model = converted[model_id]
        assert model.preprocess.input_size == (size, size) and model.preprocess.crop_pct == 0.875
        assert torch.allclose(model.mean.flatten(), torch.full((3,), 0.5), atol=0.003)
        assert torch.allclose(model.std.flatten(), torch.full((3,), 0.5), atol=0.003)
        assert model.describe()["softmax_removed"] and model.describe()["background_dropped"]
        assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) >= 28
        x = torch.rand(1, 3, size, size, requires_grad=size == 128)
        logits = model(x)
        assert logits.shape == (1, 1000)
        assert abs(float(logits.detach().sum()) - 1.0) > 1e-3  # logits, not softmax probabilities
        if x.requires_grad:  # gradients reach the [0,1] input (checked on the smallest model to stay fast)
            logits[0, logits.argmax()].backward()
            assert x.grad is not None and x.grad.abs().sum() > 0


def litert_agreement(coral, model_id: str, model: torch.nn.Module) -> tuple[int, int]:
    """(photos whose converted top-1 is a top-1 of the reference interpreter, photos)."""
    interpreter_mod = pytest.importorskip("ai_edge_litert.interpreter", reason="reference interpreter not installed")
    photos, size = coral_photos(coral), CORAL[model_id]
    name = str(coral / "models" / f"{model_id}.tflite")
    ref = interpreter_mod.Interpreter(model_path=name)
    ref.allocate_tensors()
    inp, out = ref.get_input_details()[0], ref.get_output_details()[0]
    batch = np.stack([np.asarray(p.resize((size, size), Image.BILINEAR)) for p in photos])
    expected = []
    for image in batch:
        ref.set_tensor(inp["index"], image[None])
        ref.invoke()
        probs = ref.get_tensor(out["index"])[0, 1:]
        expected.append(set(np.flatnonzero(probs == probs.max())))  # uint8 softmax ties: any maximum counts
    with torch.no_grad():
        top1 = model(torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255).argmax(1).tolist()
    return sum(t in e for t, e in zip(top1, expected, strict=True)), len(photos)


@pytest.mark.realdata
@pytest.mark.slow
def test_float_graph_top1_agrees_with_litert_on_every_coral_photo(coral, converted):
    for model_id in CORAL:
        agree, n = litert_agreement(coral, model_id, converted[model_id])
        assert agree == n, f"{model_id}: {agree}/{n}"


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_id", "expected"), [("mobilenet_v1_0.25_128_quant", 12), ("tf2_mobilenet_v2_1.0_224_ptq", 13)]
)
def test_rounded_activations_track_litert(coral, model_id, expected):
    # measured: rounding every activation to its grid flips one coral photo of the smallest MobileNet (a near tie)
    model = load_model(f"tflite:{coral}/models/{model_id}.tflite?quantize_activations=true")
    assert litert_agreement(coral, model_id, model) == (expected, 13)


@pytest.mark.realdata
def test_global_pool_accepts_any_input_size(converted):
    """The head's whole-map AVERAGE_POOL_2D becomes adaptive, so a 128-px model takes 224-px stimuli."""
    with torch.no_grad():
        for name, model in converted.items():
            size = model.preprocess.input_size
            x = torch.rand(1, 3, *size)
            big = torch.nn.functional.interpolate(x, size=(224, 224), mode="nearest")
            assert model(big).shape == (1, 1000), name
