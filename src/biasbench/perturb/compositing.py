"""SI-SCORE compositing (Djolonga et al., CVPR 2021; METHODS.md §8.1, CONTAMINATION_AND_META.md §B.6):
paste a segmented foreground object onto a background with controlled area, centre and rotation.

The rules follow the published generator (google-research/si-score ``dataset_generator.py``):
1. background: largest top-left square, bilinear resize to the configured resolution;
2. foreground: bilinear resize by √(a / (fg_area / bg_area)), sizes truncated to integers, so its
   bounding box covers a fraction ``a`` of the background;
3. rotation θ° counter-clockwise, bicubic, canvas expanded;
4. the box centre goes to (⌊x·W⌋, ⌊y·H⌋), top-left = int(centre − size/2) (truncation toward zero, as
   published);
5. fraction inside = box area inside the image / box area (bounding box, not pixels); images below the
   explicit ``min_inside`` threshold are dropped;
6. paste with the alpha channel as the mask.
Deviations, all no-ops on the released assets: the foreground is first cropped to its alpha bounding box
(the released PNGs are already tight), and the inside area is clamped at 0 (the published formula
multiplies two negative extents for a box entirely off the image).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from biasbench.core.errors import BiasbenchError


def square_background(image: Image.Image, resolution: tuple[int, int]) -> Image.Image:
    """Crop the largest top-left-anchored square and resize it (bilinear) to ``resolution`` (W, H)."""
    side = min(image.size)
    square = image.convert("RGB").crop((0, 0, side, side))
    return square if square.size == resolution else square.resize(resolution, Image.Resampling.BILINEAR)


def with_alpha(image: Image.Image, mask: Image.Image | None = None) -> Image.Image:
    """An RGBA foreground cropped to its object's bounding box; ``mask`` (any mode, non-zero = object)
    becomes the alpha channel of an RGB image."""
    rgba = image.convert("RGBA")
    if mask is not None:
        rgba.putalpha(mask.convert("L").resize(rgba.size, Image.Resampling.NEAREST))
    box = rgba.getchannel("A").getbbox()
    if box is None:
        raise BiasbenchError("foreground has an empty alpha channel/mask: there is no object to paste")
    return rgba.crop(box)


def scale_to_area(fg: Image.Image, bg_size: tuple[int, int], area: float) -> Image.Image:
    """Resize ``fg`` (bilinear, aspect kept) so its box covers ``area`` of the background; sizes truncated."""
    factor = np.sqrt(area / (fg.width * fg.height / (bg_size[0] * bg_size[1])))
    size = (max(1, int(fg.width * factor)), max(1, int(fg.height * factor)))
    return fg.resize(size, Image.Resampling.BILINEAR)


def rotate(fg: Image.Image, angle: float) -> Image.Image:
    """Rotate ``angle`` degrees counter-clockwise (bicubic, expanded canvas; new corners transparent)."""
    return fg.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True) if angle else fg


def top_left(box_size: tuple[int, int], bg_size: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    """Top-left corner placing the box centre at (⌊x·W⌋, ⌊y·H⌋)."""
    cx, cy = int(x * bg_size[0]), int(y * bg_size[1])
    return int(cx - box_size[0] * 0.5), int(cy - box_size[1] * 0.5)


def fraction_inside(box_size: tuple[int, int], corner: tuple[int, int], bg_size: tuple[int, int]) -> float:
    """Fraction of the box (w, h) at ``corner`` that lies inside a W×H image."""
    (w, h), (left, top) = box_size, corner
    inside_w = max(0, min(left + w, bg_size[0]) - max(left, 0))
    inside_h = max(0, min(top + h, bg_size[1]) - max(top, 0))
    return inside_w * inside_h / (w * h)


@dataclass(frozen=True)
class Composite:
    """One composited image and where its object went."""

    image: Image.Image
    corner: tuple[int, int]
    box_size: tuple[int, int]
    fraction_inside: float


def composite(fg: Image.Image, bg: Image.Image, *, x: float, y: float, area: float, rotation: float) -> Composite:
    """Paste RGBA ``fg`` onto the prepared square ``bg`` (see module docstring for the rules)."""
    obj = rotate(scale_to_area(fg, bg.size, area), rotation)
    corner = top_left(obj.size, bg.size, x, y)
    out = bg.copy()
    out.paste(obj, box=corner, mask=obj)
    return Composite(out, corner, obj.size, fraction_inside(obj.size, corner, bg.size))


@dataclass(frozen=True)
class GridConfig:
    """A factor grid: centres, areas, rotations, background resolution (W, H), the minimum fraction of the
    box inside the image, and how many backgrounds each foreground instance is paired with."""

    coords: tuple[tuple[float, float], ...]
    areas: tuple[float, ...]
    rotations: tuple[float, ...] = (0,)
    resolution: tuple[int, int] = (512, 512)
    min_inside: float = 0.95
    bgs_per_fg: int = 2
    factor: str = "area"  # what the variant varies: "area", "location" or "rotation"
    notes: dict[str, str] = field(default_factory=dict, compare=False)

    def with_min_inside(self, value: float | None) -> GridConfig:
        return self if value is None else replace(self, min_inside=value)


def _steps(start: float, stop: float, step: float) -> tuple[float, ...]:
    n = int(round((stop - start) / step)) + 1
    return tuple(round(start + i * step, 4) for i in range(n))


_GRID21 = _steps(0.0, 1.0, 0.05)
_GRID5 = (0.0, 0.25, 0.5, 0.75, 1.0)
_ANGLES = tuple(range(1, 342, 20))  # 1, 21, ..., 341: avoids the blur-free 0/90/180/270

PRESETS: dict[str, GridConfig] = {
    "size": GridConfig(((0.5, 0.5),), _steps(0.01, 1.0, 0.01), (0,), (512, 512), 0.95, factor="area"),
    "location": GridConfig(
        tuple(itertools.product(_GRID21, _GRID21)), (0.2,), (0,), (500, 500), 0.0, factor="location"
    ),
    "rotation": GridConfig(((0.5, 0.5),), (0.2, 0.5, 0.8, 1.0), _ANGLES, (512, 512), 0.95, factor="rotation"),
}
"""The three released variants (size / location20_area02_min0pc / rotation)."""

MINI_PRESETS: dict[str, GridConfig] = {
    "size": replace(PRESETS["size"], areas=(0.05, 0.1, 0.25, 0.5)),
    "location": replace(PRESETS["location"], coords=tuple(itertools.product(_GRID5, _GRID5))),
    "rotation": replace(PRESETS["rotation"], areas=(0.5,), rotations=(1, 61, 121, 181, 241, 301)),
}
"""CPU-sized versions: 4 areas, a 5×5 grid, 6 angles at area 0.5."""


def preset(variant: str, mini: bool = False) -> GridConfig:
    table = MINI_PRESETS if mini else PRESETS
    if variant not in table:
        raise BiasbenchError(f"unknown SI-SCORE variant {variant!r}; choose one of {sorted(table)}")
    return table[variant]


def pair_backgrounds(num_instances: int, num_backgrounds: int, per_instance: int, seed: int) -> list[list[int]]:
    """Backgrounds for each foreground instance, drawn without replacement from a numpy RandomState seeded
    with ``seed`` — the same stream as the published ``np.random.seed(0)`` + ``np.random.choice``."""
    if per_instance > num_backgrounds:
        raise BiasbenchError(
            f"{per_instance} backgrounds per foreground requested, but there are only {num_backgrounds}; "
            "lower bgs_per_fg or add backgrounds"
        )
    rng = np.random.RandomState(seed)
    return [rng.choice(num_backgrounds, per_instance, replace=False).tolist() for _ in range(num_instances)]


def plan(config: GridConfig, instances: Sequence[tuple[int, int]], pairs: Sequence[Sequence[int]]) -> list[dict]:
    """Rows of the Cartesian product coords × areas × rotations × (fg instance, bg) pairs, numbered in
    that order (ids are assigned before the inside filter, as published)."""
    fg_bg = [(inst, bg) for inst, bgs in zip(instances, pairs, strict=True) for bg in bgs]
    rows = []
    for i, ((x, y), area, angle, ((cls, inst), bg)) in enumerate(
        itertools.product(config.coords, config.areas, config.rotations, fg_bg)
    ):
        rows.append(
            {
                "image_id": i,
                "x_coord": x,
                "y_coord": y,
                "area": area,
                "rotation": angle,
                "foreground_class": cls,
                "foreground_instance": inst,
                "background": bg,
            }
        )
    return rows
