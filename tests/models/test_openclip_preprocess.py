"""The pixels biasbench feeds an openclip: model equal open_clip's own evaluation transform
(``open_clip.image_transform_v2(cfg, is_train=False)``) before ToTensor's division and Normalize, for every
distinct transform among open_clip's pretrained tags (size, resize mode, interpolation) and the two cases no tag
uses (``longest`` with a fill colour, a non-square ``shortest``), on real images of the data root."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch
from PIL import Image

from biasbench.data.pixels.images import ImageTransform
from biasbench.models import ModelSpec
from biasbench.models.openclip_source import OpenClipRef, open_clip_preprocess_config, preprocess_from_open_clip
from biasbench.models.sources import MODEL_SOURCES
from tests.conftest import require


def tag_transforms(open_clip) -> dict[tuple, str]:
    """One ``ARCH/TAG`` per distinct evaluation transform, with the tag's config over PreprocessCfg's defaults
    and the image size of the architecture's config (what create_model hands image_transform_v2)."""
    out = {}
    for arch, tag in open_clip.list_pretrained():
        cfg = tag_config(open_clip, arch, tag)
        key = (cfg.size, cfg.resize_mode, cfg.interpolation, cfg.mean, cfg.std, cfg.fill_color)
        out.setdefault(key, f"{arch}/{tag}")
    return out


def tag_config(open_clip, arch: str, tag: str):
    from open_clip.transform import PreprocessCfg

    known = {f.name for f in fields(PreprocessCfg)}
    overlay = {k: v for k, v in open_clip.get_pretrained_cfg(arch, tag).items() if k in known}
    size = open_clip.get_model_config(arch)["vision_cfg"].get("image_size", 224)
    return PreprocessCfg(**{**overlay, "size": size})


def reference_pixels(open_clip, cfg, image: Image.Image) -> tuple[torch.Tensor, torch.nn.Module]:
    """open_clip's eval transform up to (not including) Normalize, and the Normalize step."""
    from open_clip.transform import image_transform_v2

    *steps, normalize = image_transform_v2(cfg, is_train=False).transforms
    x = image
    for step in steps:
        x = step(x)
    return x, normalize


@pytest.fixture(scope="module")
def real_images(data_root) -> list:
    """The widest, tallest and most square of the first 300 sample images, and a grayscale one."""
    folder = require(data_root, "imagenet-sample-images/images")
    shapes = {}
    for path in sorted(folder.glob("*.JPEG"))[:300]:
        with Image.open(path) as im:
            shapes[path] = (im.size[0] / im.size[1], im.mode)
    picks = [
        max(shapes, key=lambda p: shapes[p][0]),
        min(shapes, key=lambda p: shapes[p][0]),
        min(shapes, key=lambda p: abs(shapes[p][0] - 1)),
        next(p for p in shapes if shapes[p][1] == "L"),
    ]
    assert len(set(picks)) == 4
    return picks


def test_every_tag_transform_matches_open_clip_on_real_images(open_clip_tiny, real_images):
    transforms = tag_transforms(open_clip_tiny)
    assert {k[1] for k in transforms} == {"shortest", "squash"} and {k[2] for k in transforms} == {
        "bicubic",
        "bilinear",
    }
    assert len({k[0] for k in transforms}) >= 8  # 224 ... 512 px
    for name in transforms.values():
        spec = ModelSpec.parse(f"openclip:{name}")
        pp = MODEL_SOURCES["openclip"].preprocess(spec)  # the cheap path: no weights are read
        transform = ImageTransform("model", pp)
        cfg = tag_config(open_clip_tiny, *name.split("/"))
        for path in real_images:
            with Image.open(path) as im:
                expected, normalize = reference_pixels(open_clip_tiny, cfg, im.convert("RGB"))
            assert torch.equal(transform(path).float() / 255, expected), (name, path.name)
        # the Classifier normalises with the transform's own mean and std
        resolved = open_clip_preprocess_config(OpenClipRef.parse(spec))
        assert tuple(resolved["mean"]) == pytest.approx(tuple(normalize.mean)), name
        assert tuple(resolved["std"]) == pytest.approx(tuple(normalize.std)), name


@pytest.mark.parametrize(
    ("size", "mode", "interpolation", "fill"),
    [
        (224, "longest", "bicubic", 0),
        (256, "longest", "bilinear", 37),  # padded with the fill colour
        ((224, 300), "shortest", "bilinear", 0),  # open_clip resizes non-square shortest with bicubic
        ((192, 256), "squash", "bilinear", 0),
    ],
)
def test_modes_no_tag_uses_match_open_clip(open_clip_tiny, real_images, size, mode, interpolation, fill):
    from open_clip.transform import PreprocessCfg

    cfg = PreprocessCfg(size=size, resize_mode=mode, interpolation=interpolation, fill_color=fill)
    h, w = (size, size) if isinstance(size, int) else size
    resolved = {"size": (h, w), "resize_mode": mode, "interpolation": interpolation, "fill_color": fill}
    transform = ImageTransform("model", preprocess_from_open_clip(resolved))
    for path in real_images:
        with Image.open(path) as im:
            expected, _ = reference_pixels(open_clip_tiny, cfg, im.convert("RGB"))
        assert torch.equal(transform(path).float() / 255, expected), (size, mode, path.name)
