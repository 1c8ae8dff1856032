"""SI-SCORE stimulus generation (Djolonga et al., CVPR 2021): composite foreground objects onto backgrounds
over a factor grid (``compositing``) into a folder in the published layout (``metadata.csv``,
``foreground_classes.csv``, ``foreground_classes_metadata_indices.csv``, ``backgrounds.csv``,
``<class>/<image_id>.jpg``), and a cache of generated folders keyed by their content. Reading such a folder is
``biasbench.data.catalogue.composites.read_composites``.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from biasbench.core.fingerprint import digest
from biasbench.core.paths import user_cache_dir
from biasbench.perturb.compositing import (
    GridConfig,
    composite,
    pair_backgrounds,
    plan,
    square_background,
    with_alpha,
)

METADATA_HEADER = (
    "image_id", "x_coord", "y_coord", "area", "rotation", "foreground_class", "foreground_instance",
    "background", "bg_resolution_width", "bg_resolution_height", "pct_inside_image",
)  # fmt: skip
GENERATOR_VERSION = 1  # bump when generated pixels change, so cached composites are rebuilt


@dataclass(frozen=True)
class ForegroundAsset:
    """One foreground object: its image (RGBA, or RGB with a ``mask``), class and instance numbers, label."""

    path: Path
    mask: Path | None
    class_index: int
    class_name: str
    instance: int
    label: int  # ImageNet-1k index


@dataclass(frozen=True)
class CompositeAssets:
    """The objects and backgrounds to composite; ``fingerprint`` identifies their content (cache key)."""

    foregrounds: tuple[ForegroundAsset, ...]
    backgrounds: tuple[Path, ...]
    fingerprint: str


def _write_csv(path: Path, header: tuple[str, ...] | list[str], rows) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def generate(assets: CompositeAssets, config: GridConfig, out: Path, *, seed: int = 0, quality: int = 75) -> int:
    """Composite ``assets`` over ``config``'s grid into ``out`` (published layout); returns the number of
    images kept. JPEG quality 75 is Pillow's default, which the published generator used."""
    fgs, bgs = assets.foregrounds, assets.backgrounds
    classes = sorted({(f.class_index, f.class_name, f.label) for f in fgs})
    instances = [(f.class_index, f.instance) for f in fgs]
    lookup = {(f.class_index, f.instance): f for f in fgs}
    pairs = pair_backgrounds(len(instances), len(bgs), config.bgs_per_fg, seed)
    backgrounds = {}
    foregrounds = {}
    for _, name, _ in classes:
        (out / name).mkdir(parents=True, exist_ok=True)
    kept = []
    for row in plan(config, instances, pairs):
        key = (row["foreground_class"], row["foreground_instance"])
        if key not in foregrounds:
            fg = lookup[key]
            with Image.open(fg.path) as im:
                mask = Image.open(fg.mask) if fg.mask else None
                foregrounds[key] = with_alpha(im, mask)
        if row["background"] not in backgrounds:
            with Image.open(bgs[row["background"]]) as im:
                backgrounds[row["background"]] = square_background(im, config.resolution)
        made = composite(
            foregrounds[key],
            backgrounds[row["background"]],
            x=row["x_coord"],
            y=row["y_coord"],
            area=row["area"],
            rotation=row["rotation"],
        )
        if made.fraction_inside < config.min_inside:
            continue
        name = classes[[c[0] for c in classes].index(row["foreground_class"])][1]
        made.image.save(out / name / f"{row['image_id']}.jpg", quality=quality)
        kept.append([*row.values(), *config.resolution, round(made.fraction_inside, 4)])
    _write_csv(out / "foreground_classes_metadata_indices.csv", ["int", "label"], [(i, n) for i, n, _ in classes])
    _write_csv(out / "foreground_classes.csv", ["int", "label"], [(lab, n) for _, n, lab in classes])
    _write_csv(out / "backgrounds.csv", ["int", "label"], [(i, p.name) for i, p in enumerate(bgs)])
    _write_csv(out / "metadata.csv", METADATA_HEADER, kept)
    return len(kept)


def generated_folder(
    assets: CompositeAssets, config: GridConfig, *, seed: int = 0, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The folder of ``assets`` composited over ``config`` (published layout) in the cache, generated on first use.

    The folder is ``<cache>/si-score/<key>``, key = digest(grid, seed, asset fingerprint, generator
    version), with ``<cache>`` = ``cache_dir`` or the user cache (``BIASBENCH_CACHE``). Generation writes
    to a temporary sibling and renames it into place, so an interrupted run leaves no half folder.
    """
    grid = {k: v for k, v in asdict(config).items() if k != "notes"}
    key = digest([grid, seed, assets.fingerprint, GENERATOR_VERSION])
    root = Path(cache_dir).expanduser() if cache_dir else user_cache_dir()
    folder = root / "si-score" / key
    if not (folder / "metadata.csv").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=folder.parent))
        try:
            generate(assets, config, tmp, seed=seed)
            os.replace(tmp, folder) if not folder.exists() else shutil.rmtree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return folder
