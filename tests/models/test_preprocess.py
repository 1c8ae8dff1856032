"""The pixels biasbench feeds a model equal the weight's own evaluation transform: timm's ``create_transform``
for timm weights and ``weights.transforms()`` for torchvision weights, compared on generated and real images
before normalisation (uint8 / 255, which is what ToTensor produces and what the Classifier normalises)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.core.errors import BiasbenchError
from biasbench.core.preprocessing import Preprocess
from biasbench.core.torchvision_shim import ensure_torchvision_importable
from biasbench.data.pixels.decoded_cache import cache_key
from biasbench.data.pixels.images import ImageTransform, model_pixels
from biasbench.models.sources import MODEL_SOURCES, ModelSpec, load_model, model_preprocess
from biasbench.models.torchvision_source import torchvision_preprocess
from biasbench.models.wrapper import Classifier
from biasbench.run.plan import ModelRef, build_probes, plan_jobs
from tests.conftest import TINY_MODEL

ensure_torchvision_importable()
import timm  # noqa: E402
import torchvision.models as tvm  # noqa: E402
from timm.data import create_transform, resolve_data_config  # noqa: E402

# Families whose pretrained configs together cover crop_pct 0.875 / 0.9 / 0.95 / 1.0 (and 1.15, 0.882, ...),
# bicubic and bilinear, crop_mode center / squash / border, square and non-square inputs.
FAMILIES = (
    "resnet50.*",
    "convnext_base.*",
    "vit_base_patch16_224.*",
    "deit_*",
    "tf_efficientnet_lite*",
    "dm_nfnet_f0*",
    "deepseek_vit_412m.*",
    "vit_base_patch16_sapiens2*",
    "volo_d4_448*",
    "resnetv2_50x1*",
)
SIZES = ((200, 300), (333, 100), (256, 257), (96, 128))  # (height, width): landscape, portrait, ~square, small


def _unique_cfgs(families=FAMILIES) -> dict[tuple, str]:
    """One pretrained name per distinct (input_size, crop_pct, crop_mode, interpolation, mean)."""
    out = {}
    for name in sorted({n for f in families for n in timm.list_pretrained(f)}):
        c = timm.models.get_pretrained_cfg(name)
        out.setdefault((c.input_size, c.crop_pct, c.crop_mode, c.interpolation, c.mean), name)
    return out


CFGS = _unique_cfgs()


def _timm_reference(name: str, image: Image.Image) -> tuple[torch.Tensor, tuple, tuple]:
    """timm's eval transform of the weight's config, run up to (not including) its Normalize."""
    cfg = resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(name).to_dict())
    steps = create_transform(**cfg, is_training=False).transforms
    normalize = steps[-1]
    assert type(normalize).__name__ == "Normalize"
    x = image
    for step in steps[:-1]:
        x = step(x)
    return x, tuple(normalize.mean.tolist()), tuple(normalize.std.tolist())


def _images(sizes=SIZES) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    out = []
    for h, w in sizes:  # smooth gradients plus noise, so every resampling filter matters
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], -1)
        out.append(Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)))
    return out


def test_the_families_cover_every_crop_mode_interpolation_and_crop_pct():
    keys = list(CFGS)
    assert {k[2] for k in keys} == {"center", "squash", "border"}
    assert {k[3] for k in keys} == {"bicubic", "bilinear"}
    assert {0.875, 0.9, 0.95, 1.0} <= {k[1] for k in keys}
    assert any(k[0][1] != k[0][2] for k in keys)  # a non-square input


@pytest.mark.slow
def test_pixels_equal_timm_create_transform_for_every_config():
    images = _images()
    for name in CFGS.values():
        model = MODEL_SOURCES["timm"].preprocess(ModelSpec.parse(f"timm:{name}"))
        for image in images:
            expected, _, _ = _timm_reference(name, image)
            got = model_pixels(image, model)
            assert got.dtype == torch.uint8 and got.is_contiguous()
            assert torch.equal(got.float() / 255, expected), (name, image.size, model)


@pytest.mark.realdata
def test_pixels_equal_timm_on_real_images(data_root):
    from tests.conftest import require

    folder = require(data_root, "imagenet-sample-images/images")
    shapes = {}
    for p in sorted(folder.glob("*.JPEG"))[:300]:
        with Image.open(p) as im:
            shapes[p] = (im.size[0] / im.size[1], im.mode)
    # the widest, the tallest, the most square and a grayscale file
    picks = {
        max(shapes, key=lambda p: shapes[p][0]),
        min(shapes, key=lambda p: shapes[p][0]),
        min(shapes, key=lambda p: abs(shapes[p][0] - 1)),
        next(p for p in shapes if shapes[p][1] == "L"),
    }
    assert len(picks) == 4
    names = [n for k, n in CFGS.items() if k[0][1] <= 448]  # skip the largest inputs to stay fast
    for name in names:
        model = MODEL_SOURCES["timm"].preprocess(ModelSpec.parse(f"timm:{name}"))
        transform = ImageTransform("model", model)
        for path in picks:
            with Image.open(path) as im:
                expected, _, _ = _timm_reference(name, im.convert("RGB"))
            assert torch.equal(transform(path).float() / 255, expected), (name, path.name)


def test_resize_sizes_follow_timm_floor():
    assert Preprocess((224, 224), 0.95).resize == (235, 235)  # round() gave 236
    assert Preprocess((224, 224), 0.875).resize == (256, 256)
    assert Preprocess((288, 288), 1.0).resize == (288, 288)
    assert Preprocess((160, 160), 0.875).resize == (182, 182)  # round() gave 183
    assert Preprocess((224, 320), 0.9).resize == (248, 355)
    assert Preprocess((448, 448), 1.15).resize == (389, 389)
    for h in (96, 128, 160, 192, 224, 240, 256, 260, 288, 320, 384):
        for pct in (0.875, 0.882, 0.9, 0.95, 0.96, 1.0):
            assert Preprocess((h, h), pct).resize[0] == math.floor(h / pct)


def _centre(image: Image.Image, h: int, w: int) -> Image.Image:
    W, H = image.size
    top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    return image.crop((left, top, left + w, top + h))


def _array(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


def test_crop_modes_by_hand():
    """Each mode against a hand-written Pillow pipeline (no timm involved)."""
    landscape = _images([(200, 300)])[0]  # W 300, H 200
    # center, 224 at 0.95: shorter side 235, longer int(235 * 300 / 200) = 352, centre crop 224
    got = model_pixels(landscape, Preprocess((224, 224), 0.95, "bicubic"))
    expected = _centre(landscape.resize((352, 235), Image.Resampling.BICUBIC), 224, 224)
    assert torch.equal(got, _array(expected))
    # squash, 288 at 1.0: both sides straight to 288, nothing cropped
    got = model_pixels(landscape, Preprocess((288, 288), 1.0, "bilinear", "squash"))
    assert torch.equal(got, _array(landscape.resize((288, 288), Image.Resampling.BILINEAR)))
    # squash with a non-square input (H 192, W 256) at 0.9: resize to floor(192/.9)=213 x floor(256/.9)=284
    got = model_pixels(landscape, Preprocess((192, 256), 0.9, "bilinear", "squash"))
    assert torch.equal(got, _array(_centre(landscape.resize((284, 213), Image.Resampling.BILINEAR), 192, 256)))
    # border, 224 at 1.0: longer side 224, shorter round(200 * 224 / 300) = 149, padded with fill to 224
    fill = (10, 200, 30)
    got = model_pixels(landscape, Preprocess((224, 224), 1.0, "bicubic", "border", fill))
    canvas = Image.new("RGB", (224, 224), fill)
    canvas.paste(landscape.resize((224, 149), Image.Resampling.BICUBIC), (0, (224 - 149) // 2))  # 37 on top
    assert torch.equal(got, _array(canvas))


def test_timm_sources_take_the_weight_config_without_building_it():
    pp = model_preprocess("timm:resnet50.a1_in1k")
    assert (pp.input_size, pp.crop_pct, pp.interpolation, pp.crop_mode, pp.resize) == (
        (224, 224),
        0.95,
        "bicubic",
        "center",
        (235, 235),
    )
    assert model_preprocess("timm:resnet50.tv_in1k").resize == (256, 256)
    squash = model_preprocess("timm:convnext_base.fb_in22k_ft_in1k_384")
    assert (squash.crop_mode, squash.resize) == ("squash", (384, 384))
    assert model_preprocess("bundled:efficientnet_lite0") == model_preprocess("timm:tf_efficientnet_lite0")
    assert model_preprocess("file:/nonexistent.safetensors?arch=resnet50.a1_in1k").resize == (235, 235)
    # the cheap path agrees with the loaded model
    assert model_preprocess(TINY_MODEL) == load_model(TINY_MODEL).preprocess


def test_timm_classifier_normalises_with_the_transform_mean_and_std():
    model = load_model(TINY_MODEL)
    _, mean, std = _timm_reference("test_resnet.r160_in1k", _images([(50, 60)])[0])
    assert tuple(model.mean.flatten().tolist()) == pytest.approx(mean)
    assert tuple(model.std.flatten().tolist()) == pytest.approx(std)


def test_every_torchvision_weight_matches_its_own_transforms():
    images = _images([(200, 300), (333, 100)])
    seen = set()
    for name in tvm.list_models(module=tvm):
        for weights in tvm.get_model_weights(name):
            t = weights.transforms()
            if not hasattr(t, "crop_size"):
                continue
            pp, mean, std = torchvision_preprocess(weights)
            assert pp.resize[0] == t.resize_size[0] and pp.input_size[0] == t.crop_size[0], weights
            key = (pp, tuple(t.mean), tuple(t.std))
            if key in seen:
                continue
            seen.add(key)
            for image in images:
                expected = t(image)  # resize, centre crop, /255, normalise
                got = model_pixels(image, pp)
                restored = (expected * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)) * 255
                assert torch.equal(restored.round().to(torch.uint8), got), weights
                net_input = (got.float()[None] / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
                    1, 3, 1, 1
                )
                torch.testing.assert_close(net_input[0], expected, rtol=0, atol=1e-5)
    assert len(seen) >= 5
    v2 = MODEL_SOURCES["torchvision"].preprocess(ModelSpec.parse("torchvision:resnet50:IMAGENET1K_V2"))
    assert (v2.input_size, v2.resize, v2.interpolation) == ((224, 224), (232, 232), "bilinear")


def test_readme_constructor_and_validation():
    pp = Preprocess(input_size=(224, 224), crop_pct=0.875, interpolation="bilinear")
    assert pp.crop_mode == "center" and pp.resize == (256, 256) and pp.fill == (124, 116, 104)
    assert pp.as_dict()["resize"] == [256, 256]
    with pytest.raises(BiasbenchError, match="crop_mode 'middle'"):
        Preprocess(crop_mode="middle")
    with pytest.raises(BiasbenchError, match="interpolation 'cubic'"):
        Preprocess(interpolation="cubic")
    with pytest.raises(BiasbenchError, match="crop_pct"):
        Preprocess(crop_pct=0)


def test_cache_key_and_job_key_cover_the_preprocessing(generated_root):
    from biasbench.data.datasets import get_dataset_spec

    dataset = get_dataset_spec("imagenet-sample").load(generated_root).head(3)
    base = Preprocess((224, 224), 0.95, "bicubic")
    variants = [
        Preprocess((224, 224), 0.95, "bicubic", "squash"),
        Preprocess((224, 224), 0.9, "bicubic"),
        Preprocess((224, 224), 0.95, "bicubic", "border", (0, 0, 0)),
    ]
    keys = {cache_key(dataset, ImageTransform("model", p)) for p in [base, *variants]}
    assert len(keys) == 4

    net = load_model(TINY_MODEL).net
    probes = build_probes(["accuracy"], {})

    def job_key(pp: Preprocess) -> str:
        ref = ModelRef("m", module=Classifier(net, name="m", preprocess=pp, fingerprint="fixed"))
        jobs, _ = plan_jobs([ref], probes, [], data_root=generated_root, limit=3)
        return jobs[0].key

    assert len({job_key(p) for p in [base, *variants]}) == 4
    spec_jobs, _ = plan_jobs([ModelRef(TINY_MODEL, spec=TINY_MODEL)], probes, [], data_root=generated_root, limit=3)
    module_jobs, _ = plan_jobs(
        [ModelRef(TINY_MODEL, module=load_model(TINY_MODEL))], probes, [], data_root=generated_root, limit=3
    )
    assert spec_jobs[0].key == module_jobs[0].key  # the spec's cheap preprocess equals the loaded model's


@pytest.mark.realdata
def test_tflite_keeps_crop_pct_0875_bilinear_with_timm_floor(data_root):
    from tests.conftest import require

    path = require(data_root, "coral-test-data/models/mobilenet_v1_0.5_160_quant.tflite")
    pp = model_preprocess(f"tflite:{path}")
    assert (pp.input_size, pp.crop_pct, pp.interpolation, pp.crop_mode) == ((160, 160), 0.875, "bilinear", "center")
    assert pp.resize == (182, 182)  # floor(160 / 0.875); the former round() gave 183
