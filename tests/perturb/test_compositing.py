"""SI-SCORE compositing: area by bounding box, centre placement, fraction inside at borders, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from biasbench.core.errors import BiasbenchError
from biasbench.data.catalogue.composites import SiScoreAssets, read_composites
from biasbench.data.datasets import Dataset
from biasbench.perturb.composite_generator import generate
from biasbench.perturb.compositing import (
    MINI_PRESETS,
    PRESETS,
    GridConfig,
    composite,
    fraction_inside,
    pair_backgrounds,
    plan,
    rotate,
    scale_to_area,
    square_background,
    with_alpha,
)
from biasbench.probes.si_score import composite_assets

RED = (255, 0, 0, 255)


def red_object(w=37, h=23):
    return Image.new("RGBA", (w, h), RED)


def black(size=200):
    return Image.new("RGB", (size, size))


def red_box(image):
    """Bounding box (left, top, right, bottom) of the red pixels."""
    a = np.asarray(image)
    ys, xs = np.nonzero((a[..., 0] > 128) & (a[..., 1] < 64))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("area", [0.01, 0.1, 0.37, 0.55])
def test_bounding_box_covers_requested_area(area):
    fg, bg_size = red_object(), (200, 200)
    out = scale_to_area(fg, bg_size, area)
    target = area * 200 * 200
    factor = np.sqrt(target / (37 * 23))
    # sizes are truncated (as published): at most one pixel short on each side
    assert target - (37 * factor + 23 * factor + 1) <= out.width * out.height <= target + 1e-9
    assert abs(out.width / out.height - 37 / 23) < 0.1
    made = composite(fg, black(), x=0.5, y=0.5, area=area, rotation=0)
    left, top, right, bottom = red_box(made.image)
    assert (right - left, bottom - top) == out.size == made.box_size


@pytest.mark.parametrize(("x", "y"), [(0.5, 0.5), (0.3, 0.65), (0.2, 0.75)])
def test_centre_lands_where_requested(x, y):
    made = composite(red_object(), black(), x=x, y=y, area=0.04, rotation=0)
    left, top, right, bottom = red_box(made.image)
    assert abs((left + right) / 2 - int(x * 200)) <= 1
    assert abs((top + bottom) / 2 - int(y * 200)) <= 1
    assert (left, top) == (max(made.corner[0], 0), max(made.corner[1], 0))


def test_fraction_inside_at_borders():
    assert fraction_inside((10, 10), (45, 45), (100, 100)) == 1.0
    assert fraction_inside((10, 10), (-5, 40), (100, 100)) == 0.5
    assert fraction_inside((10, 10), (-5, -5), (100, 100)) == 0.25
    assert fraction_inside((10, 10), (95, 95), (100, 100)) == 0.25
    assert fraction_inside((10, 20), (90, -10), (100, 100)) == 0.5
    assert fraction_inside((10, 10), (-20, -20), (100, 100)) == 0.0  # published formula gives 1.0 here
    made = composite(red_object(40, 20), black(), x=0.0, y=0.5, area=0.02, rotation=0)
    w = made.box_size[0]
    assert made.fraction_inside == pytest.approx((w + made.corner[0]) / w)
    left, _, right, _ = red_box(made.image)
    assert left == 0 and right == w + made.corner[0]


def test_square_background_is_top_left_crop():
    image = Image.new("RGB", (30, 20), (0, 0, 255))
    image.paste((0, 255, 0), (20, 0, 30, 20))  # a strip the top-left square does not contain
    out = square_background(image, (20, 20))
    assert out.size == (20, 20) and out.getcolors() == [(400, (0, 0, 255))]
    assert square_background(Image.new("RGB", (64, 80)), (32, 32)).size == (32, 32)


def test_rotation_expands_canvas_and_keeps_transparency():
    out = rotate(red_object(10, 20), 90)
    assert out.size == (20, 10)
    tilted = rotate(red_object(10, 20), 45)
    assert tilted.width > 20 and tilted.getpixel((0, 0))[3] == 0


def test_mask_becomes_alpha_and_crop_to_object():
    image = Image.new("RGB", (50, 40), (255, 0, 0))
    mask = Image.new("L", (50, 40), 0)
    mask.paste(255, (10, 5, 30, 25))
    fg = with_alpha(image, mask)
    assert fg.size == (20, 20) and fg.mode == "RGBA"
    with pytest.raises(BiasbenchError, match="empty alpha"):
        with_alpha(image, Image.new("L", (50, 40), 0))


def test_presets_match_published_grids():
    assert len(PRESETS["size"].areas) == 100 and PRESETS["size"].areas[:2] == (0.01, 0.02)
    assert PRESETS["size"].areas[-1] == 1.0 and PRESETS["size"].resolution == (512, 512)
    loc = PRESETS["location"]
    assert len(loc.coords) == 441 and loc.areas == (0.2,) and loc.min_inside == 0.0 and loc.resolution == (500, 500)
    rot = PRESETS["rotation"]
    assert rot.rotations == tuple(range(1, 342, 20)) and len(rot.rotations) == 18 and rot.areas == (0.2, 0.5, 0.8, 1.0)
    assert rot.min_inside == PRESETS["size"].min_inside == 0.95
    assert len(MINI_PRESETS["location"].coords) == 25 and len(MINI_PRESETS["rotation"].rotations) == 6


def test_background_pairing_matches_numpy_global_seed():
    pairs = pair_backgrounds(5, 8, 2, seed=0)
    np.random.seed(0)
    expected = [np.random.choice(8, 2, replace=False).tolist() for _ in range(5)]
    assert pairs == expected and all(len(set(p)) == 2 for p in pairs)
    assert pair_backgrounds(5, 8, 2, seed=1) != pairs
    with pytest.raises(BiasbenchError, match="only 1"):
        pair_backgrounds(1, 1, 2, seed=0)


def test_plan_is_cartesian_product_in_published_order():
    config = GridConfig(((0.2, 0.2), (0.8, 0.8)), (0.1, 0.3), (0, 45))
    rows = plan(config, [(0, 0), (1, 0)], [[3, 1], [0, 2]])
    assert len(rows) == 2 * 2 * 2 * 4
    assert [r["image_id"] for r in rows] == list(range(32))
    assert (rows[0]["x_coord"], rows[0]["area"], rows[0]["rotation"], rows[0]["background"]) == (
        0.2,
        0.1,
        0,
        3,
    )
    assert rows[1]["background"] == 1 and rows[2]["foreground_class"] == 1


def make_assets(root, seed=0):
    rng = np.random.default_rng(seed)
    for cls, colour in (("koala", (200, 50, 50)), ("zebra", (50, 200, 50))):
        (root / "foreground_samples" / cls).mkdir(parents=True)
        obj = Image.new("RGBA", (30, 18), (*colour, 255))
        obj.paste((0, 0, 0, 0), (0, 0, 5, 5))
        obj.save(root / "foreground_samples" / cls / f"{cls}1.png")
    (root / "background_samples").mkdir()
    for i in range(3):
        pixels = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "background_samples" / f"bg{i}.jpg")
    spec = SiScoreAssets()
    return Dataset(spec, root, tuple(spec.list_samples(root)))


def test_generation_is_seeded_and_in_published_layout(tmp_path):
    assets = make_assets(tmp_path / "assets")
    assert [s.label for s in assets.samples] == [105, 340, -1, -1, -1]
    config = GridConfig(((0.5, 0.5), (0.0, 0.0)), (0.1, 0.3), (0, 21), (64, 64), min_inside=0.5)
    n1 = generate(composite_assets(assets), config, tmp_path / "a", seed=0)
    n2 = generate(composite_assets(assets), config, tmp_path / "b", seed=0)
    samples = read_composites(tmp_path / "a")
    assert n1 == n2 == len(samples) == 16  # the corner placements (25 % inside) are dropped
    assert all(s.meta["pct_inside_image"] >= 0.5 for s in samples)
    assert {s.label for s in samples} == {105, 340}
    for s in samples:
        assert s.path.read_bytes() == (tmp_path / "b" / s.path.relative_to(tmp_path / "a")).read_bytes()
    generate(composite_assets(assets), config, tmp_path / "c", seed=5)
    other = read_composites(tmp_path / "c")
    assert [s.meta["background"] for s in other] != [s.meta["background"] for s in samples]
