"""Every Pillow image mode decodes to the 8-bit RGB it means, checked against reference conversions: OpenCV's
``imread`` (16-bit PNGs), scikit-image's ``img_as_ubyte`` (float images), and by-hand formulas on the source
arrays (alpha over white, CMYK, bilevel); images too small or too elongated are refused, named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from biasbench.core.errors import CorruptImageError
from biasbench.data.pixels.images import MAX_ASPECT, MIN_SIDE, decode_rgb, to_rgb

RNG = np.random.default_rng(21)
SHAPE = (13, 17)


def over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The reference composite: c·a + 255·(1 − a), a = alpha / 255, rounded."""
    a = alpha[..., None].astype(np.float64) / 255
    return np.rint(rgb.astype(np.float64) * a + 255 * (1 - a))


def test_16_bit_greyscale_png_matches_opencv(tmp_path):
    cv2 = pytest.importorskip("cv2")
    values = RNG.integers(0, 65536, SHAPE, dtype=np.uint16)
    values[0, :4] = (0, 255, 256, 65535)
    cv2.imwrite(str(tmp_path / "grey16.png"), values)  # written by another library than the one we read with
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    expected = cv2.imread(str(tmp_path / "grey16.png"), cv2.IMREAD_COLOR)[..., ::-1]
    got = np.asarray(decode_rgb(tmp_path / "grey16.png"))
    assert np.array_equal(got, expected)
    assert got[0, :4, 0].tolist() == [0, 0, 1, 255]  # the high byte
    mid = Image.fromarray(np.full((64, 64), 32768, np.uint16))  # the blank frame: now mid grey
    assert np.asarray(to_rgb(mid)).mean() == 128.0


def test_32_bit_integer_holding_16_bit_values():
    values = RNG.integers(0, 65536, SHAPE).astype(np.int32)
    got = np.asarray(to_rgb(Image.fromarray(values, "I")))
    assert np.array_equal(got, np.repeat((values >> 8).astype(np.uint8)[..., None], 3, axis=2))
    with pytest.raises(ValueError, match="not 8- or 16-bit"):
        to_rgb(Image.fromarray(np.full(SHAPE, 70000, np.int32), "I"))


def test_float_image_matches_scikit_image():
    skimage_util = pytest.importorskip("skimage.util")
    values = RNG.random(SHAPE).astype(np.float32)
    values[0, :3] = (0.0, 1.0, 0.5 / 255)
    got = np.asarray(to_rgb(Image.fromarray(values, "F")))
    assert np.array_equal(got[..., 0], skimage_util.img_as_ubyte(values)) and (got[..., 0] == got[..., 2]).all()
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        to_rgb(Image.fromarray(values * 255, "F"))


def test_alpha_is_composited_over_white(tmp_path):
    rgb = RNG.integers(0, 256, (*SHAPE, 3), dtype=np.uint8)
    alpha = RNG.integers(0, 256, SHAPE, dtype=np.uint8)
    alpha[0, :2] = (0, 255)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "rgba.png")
    got = np.asarray(decode_rgb(tmp_path / "rgba.png")).astype(np.int64)
    assert np.abs(got - over_white(rgb, alpha)).max() <= 1  # Pillow's integer compositing rounds within 1 level
    assert got[0, 0].tolist() == [255, 255, 255] and got[0, 1].tolist() == rgb[0, 1].tolist()
    grey = rgb[..., 0]
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "la.png")
    got = np.asarray(decode_rgb(tmp_path / "la.png")).astype(np.int64)
    assert np.abs(got - over_white(np.repeat(grey[..., None], 3, 2), alpha)).max() <= 1


def test_palette_with_transparency(tmp_path):
    palette = RNG.integers(0, 256, (16, 3), dtype=np.uint8)
    index = RNG.integers(0, 16, SHAPE, dtype=np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette(palette.ravel().tolist())
    image.info["transparency"] = 3  # one fully transparent entry (tRNS)
    image.save(tmp_path / "p.png", transparency=3)
    got = np.asarray(decode_rgb(tmp_path / "p.png"))
    expected = np.where((index == 3)[..., None], 255, palette[index])
    assert np.array_equal(got, expected)
    plain = Image.fromarray(index, "P")
    plain.putpalette(palette.ravel().tolist())
    assert np.array_equal(np.asarray(to_rgb(plain)), palette[index])  # no transparency: the palette colours


def test_rgb_with_a_transparent_colour_key(tmp_path):
    rgb = RNG.integers(0, 200, (*SHAPE, 3), dtype=np.uint8)
    rgb[2, 3] = (250, 1, 2)
    Image.fromarray(rgb).save(tmp_path / "key.png", transparency=(250, 1, 2))
    got = np.asarray(decode_rgb(tmp_path / "key.png"))
    assert got[2, 3].tolist() == [255, 255, 255] and np.array_equal(
        np.delete(got.reshape(-1, 3), 2 * 17 + 3, 0), np.delete(rgb.reshape(-1, 3), 2 * 17 + 3, 0)
    )


def test_cmyk_bilevel_and_greyscale():
    cmyk = RNG.integers(0, 256, (*SHAPE, 4), dtype=np.uint8)
    got = np.asarray(to_rgb(Image.fromarray(cmyk, "CMYK"))).astype(np.float64)
    k = 255 - cmyk[..., 3:].astype(np.float64)
    assert np.abs(got - (255 - cmyk[..., :3]) * k / 255).max() <= 0.5  # R = (255 − C)(255 − K)/255, rounded
    bits = RNG.random(SHAPE) > 0.5
    assert np.array_equal(np.asarray(to_rgb(Image.fromarray(bits)))[..., 1], bits * 255)
    grey = RNG.integers(0, 256, SHAPE, dtype=np.uint8)
    assert np.array_equal(np.asarray(to_rgb(Image.fromarray(grey))), np.repeat(grey[..., None], 3, axis=2))


@pytest.mark.parametrize(
    ("size", "ok"),
    [((1, 1), False), ((MIN_SIDE - 1, 64), False), ((MIN_SIDE, MIN_SIDE), True), ((10000, 10), False),
     ((int(MAX_ASPECT) * 8, 8), True), ((int(MAX_ASPECT) * 8 + 1, 8), False), ((10, 10000), False)],
)  # fmt: skip
def test_tiny_and_elongated_images_are_refused_by_name(tmp_path, size, ok):
    path = tmp_path / "odd.png"
    Image.new("RGB", size, (10, 20, 30)).save(path)
    if ok:
        assert decode_rgb(path).size == size
        return
    with pytest.raises(CorruptImageError, match=rf"{path}: {size[0]}x{size[1]} px .*--on-corrupt skip"):
        decode_rgb(path)


def test_lab_is_refused_not_misread():
    with pytest.raises(ValueError, match="CIELAB"):
        to_rgb(Image.new("LAB", (8, 8), (0, 128, 128)))  # Pillow's convert would call this black pixel white
