"""Generated corruptions without the reference package: determinism and seeding, ranges, severity
ordering, storage formats, and the helpers (SciPy boundary modes, PIL pixelate, glass blur's copy loop)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.data.catalogue.corruption_sets import IMAGENET_C_CORRUPTIONS
from biasbench.perturb.corruptions import CORRUPTIONS, SAVE_AS, corruption_perturbation, get_corruption
from biasbench.perturb.corruptions.blur import glass_shuffle, shuffle_order
from biasbench.perturb.corruptions.filters import gaussian_filter
from biasbench.perturb.corruptions.weather import plasma_fractal


def smooth_images(n: int = 4, size: int = 64) -> torch.Tensor:
    """Natural-ish images in [0,1]: colour gradients plus low-frequency random texture (so that coarser
    pixelation and stronger blur lose more, as on photographs)."""
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, size)
    base = (t[None, :] + t[:, None]) / 2
    x = torch.stack([base, base.flip(0), base.flip(1)])[None].repeat(n, 1, 1, 1)
    texture = torch.nn.functional.interpolate(torch.rand(n, 3, 12, 12, generator=g), size=(size, size), mode="bilinear")
    return (0.5 * x + 0.5 * texture).clamp(0, 1)


def test_all_nineteen_are_registered():
    assert set(IMAGENET_C_CORRUPTIONS) <= set(CORRUPTIONS) and len(IMAGENET_C_CORRUPTIONS) == 19
    assert set(CORRUPTIONS) - set(IMAGENET_C_CORRUPTIONS) == {"snow_imagecorruptions"}  # the named compat variant
    rounded = {name for name, c in CORRUPTIONS.items() if c.rounding == "round"}
    assert rounded == {"pixelate", "jpeg_compression", "motion_blur"}  # ImageNet-C returns 8-bit pixels for these


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


# Not monotone by ImageNet-C's own parameters: saturate (desaturates, then saturates), glass blur (2, 1, 3, 2,
# 2 shuffle passes), elastic transform (severities 1-2 move large regions, 3-5 jitter locally).
NOT_ORDERED = {"saturate", "glass_blur", "elastic_transform"}


@pytest.mark.parametrize("name", sorted(set(CORRUPTIONS) - NOT_ORDERED))
def test_distortion_grows_with_severity(name):
    x, idx = smooth_images(16), torch.arange(16)
    mse = [float(((get_corruption(name)(x, s, idx) - x) ** 2).mean()) for s in range(1, 6)]
    assert mse[-1] > mse[0] and sum(b >= a for a, b in zip(mse, mse[1:], strict=False)) >= 3, mse


@pytest.mark.parametrize("name", ["gaussian_noise", "glass_blur", "fog", "frost", "spatter", "elastic_transform"])
def test_random_corruptions_seeded_by_seed_index_and_severity(name):
    x, idx = smooth_images(2), torch.tensor([0, 1])
    c = get_corruption(name)
    a = c(x, 2, idx, 0)
    assert torch.equal(a, c(x, 2, idx, 0))
    assert not torch.equal(a, c(x, 2, idx, 1))
    assert not torch.equal(a[0], c(x[1:], 2, idx[:1], 0)[0])  # image 1 under index 0's draws differs


def test_save_as_formats():
    x, idx = torch.round(smooth_images(2) * 255) / 255, torch.arange(2)  # 8-bit images, as the engine feeds
    exact = get_corruption("fog")(x.double(), 3, idx)
    for fmt in SAVE_AS:
        out = corruption_perturbation("fog", 3, save_as=fmt)(x, idx)
        assert out.shape == x.shape and out.dtype == x.dtype
    as_uint8 = corruption_perturbation("fog", 3, save_as="uint8")(x, idx)
    assert torch.equal(torch.round(as_uint8.double() * 255), torch.floor(exact * 255))  # float64, then np.uint8
    as_jpeg = corruption_perturbation("fog", 3, save_as="jpeg85")(x, idx)
    assert 0 < float((as_jpeg - exact).abs().mean()) < 0.02
    with pytest.raises(KeyError, match="save_as format"):
        corruption_perturbation("fog", 3, save_as="png")


def eight_bit_images(n: int = 3, size: int = 48) -> np.ndarray:
    """(n,H,W,3) uint8: smooth images plus pixel noise, so that many values sit near 8-bit boundaries."""
    rng = np.random.default_rng(1)
    base = smooth_images(n, size).permute(0, 2, 3, 1).numpy() * 200 + 20
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["saturate", "brightness", "contrast", "gaussian_blur"])
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_uint8_storage_equals_imagenet_c_np_uint8(name, severity):
    """Deterministic corruptions stored as 8 bits equal ImageNet-C's ``np.uint8(np.clip(f(x), 0, 1) * 255)``
    pixel for pixel (imagecorruptions' functions are ImageNet-C's for these four). The former storage (+1e-3,
    then floor, on float32) differed on up to 16.6 % of the values (saturate, severity 3)."""
    from tests.perturb.corruption_reference import load_reference, to_tensor

    ic = load_reference()
    images = eight_bit_images()
    reference = np.stack([np.uint8(np.clip(getattr(ic, name)(Image.fromarray(a), severity), 0, 255)) for a in images])
    ours = corruption_perturbation(name, severity, save_as="uint8")(to_tensor(images), torch.arange(len(images)))
    assert np.array_equal(np.round(ours.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8), reference)


@pytest.mark.parametrize("name", ["pixelate", "jpeg_compression"])
def test_eight_bit_corruptions_are_stored_unchanged(name):
    """Pixelate and JPEG return 8-bit pixels (PIL) in ImageNet-C: storage keeps them exactly."""
    x = torch.from_numpy(eight_bit_images()).permute(0, 3, 1, 2).float() / 255
    idx = torch.arange(len(x))
    computed = get_corruption(name)(x, 3, idx)
    stored = corruption_perturbation(name, 3, save_as="uint8")(x, idx)
    assert torch.equal(stored, computed)


@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
@pytest.mark.parametrize("sigma", [1.0, 5.0, 80.0])  # 80 px: kernel wider than the 24-px image (folded back)
def test_gaussian_filter_matches_scipy(mode, sigma):
    from scipy.ndimage import gaussian_filter as scipy_gaussian

    a = np.random.default_rng(0).random((2, 24, 30))
    expected = scipy_gaussian(a, sigma, mode=mode, truncate=3.0, axes=(1, 2))
    got = gaussian_filter(torch.from_numpy(a), sigma, mode, truncate=3.0).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_pixelate_is_pil_box_down_and_up(severity):
    x = smooth_images(1, 53)
    c = get_corruption("pixelate").params[severity - 1]
    image = Image.fromarray((x[0] * 255).round().byte().permute(1, 2, 0).numpy())
    small = image.resize((int(53 * c), int(53 * c)), Image.BOX)
    expected = np.asarray(small.resize((53, 53), Image.BOX))
    got = (get_corruption("pixelate")(x, severity, torch.arange(1))[0] * 255).round().byte().permute(1, 2, 0)
    assert np.array_equal(got.numpy(), expected)
    assert np.array_equal(np.asarray(small.resize((53, 53), Image.NEAREST)), expected)  # = imagecorruptions


def test_glass_shuffle_copies_rather_than_swaps():
    """ImageNet-C's ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on NumPy views: the second pixel keeps its value."""
    h = w = 6
    delta = 1
    offsets = np.random.default_rng(0).integers(-delta, delta, (2, len(shuffle_order(h, w, delta)), 2), dtype=np.int8)
    image = np.arange(h * w * 3).reshape(h, w, 3)
    it = iter(offsets.reshape(-1, 2))
    for _ in range(2):
        for row in range(h - delta, delta, -1):
            for col in range(w - delta, delta, -1):
                dx, dy = next(it)
                image[row, col], image[row + dy, col + dx] = image[row + dy, col + dx], image[row, col]
    source = glass_shuffle(h, w, delta, offsets)
    assert np.array_equal(np.arange(h * w * 3).reshape(h * w, 3)[source].reshape(h, w, 3), image)


def test_plasma_fractal_range_and_independence():
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    maps = plasma_fractal(gens, 32, 2.0)
    assert maps.shape == (2, 32, 32) and float(maps.amin()) == 0 and float(maps.amax()) == 1
    alone = plasma_fractal([torch.Generator().manual_seed(1)], 32, 2.0)
    assert torch.equal(alone[0], maps[1])


def test_bad_input_named():
    c = get_corruption("contrast")
    with pytest.raises(ValueError, match="severity must be 1..5"):
        c(smooth_images(1), 6, torch.arange(1))
    with pytest.raises(ValueError, match=r"\(N,3,H,W\)"):
        c(torch.zeros(1, 1, 8, 8), 1, torch.arange(1))
    with pytest.raises(KeyError, match="unknown corruption"):
        get_corruption("hail")


def test_frost_without_imagecorruptions_names_the_install(monkeypatch):
    from biasbench.core.errors import BiasbenchError
    from biasbench.perturb.corruptions import weather

    monkeypatch.setattr(weather.importlib.util, "find_spec", lambda name: None)
    weather.frost_texture.cache_clear()
    try:
        with pytest.raises(BiasbenchError, match="pip install imagecorruptions"):
            get_corruption("frost")(smooth_images(1), 1, torch.arange(1))
    finally:
        weather.frost_texture.cache_clear()
