"""``si-score``: accuracy as a function of object size, location and rotation on SI-SCORE composites
(Djolonga et al., CVPR 2021; METHODS.md §8).

On the released variants (``--dataset si-score-size|location|rotation``) the composites are read as they
are; on foreground/background assets (default ``si-score-samples``) the variant's grid is composited first
into a content-keyed cache folder (``generated_composites`` below) and then decoded by
the engine like any image folder, with the model's standard eval transform (recorded in the notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from biasbench.core.errors import DatasetError
from biasbench.core.stats import clopper_pearson
from biasbench.data.catalogue.composites import SiScoreComposites, read_composites, select_classes
from biasbench.data.datasets import Dataset
from biasbench.data.pixels.transforms import image_transform
from biasbench.engine.inference import CLEAN
from biasbench.perturb.composite_generator import CompositeAssets, ForegroundAsset, generated_folder
from biasbench.perturb.compositing import GridConfig, preset
from biasbench.probes.accuracy import space_accuracy_records
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.store.conditions import FactorLevel, Location
from biasbench.store.metrics import Metric
from biasbench.store.records import Record

VARIANT_FACTOR = {"size": "area", "location": "location", "rotation": "rotation"}


def factor_condition(factor: str, meta: dict) -> str:
    """The group an image belongs to: ``area/<a>``, ``x/<x>/y/<y>`` (2 decimals, as robustness_metrics
    groups locations) or ``rotation/<θ>``."""
    if factor == "location":
        return str(Location(float(meta["x_coord"]), float(meta["y_coord"])))
    return str(FactorLevel(factor, float(meta[factor])))


def normalise(values: np.ndarray, how: str, percentile: float = 95.0) -> np.ndarray:
    """Group accuracies divided by their maximum (the official demo) or by a percentile of them."""
    reference = np.nanmax(values) if how == "max" else np.nanpercentile(values, percentile)
    return values / reference if reference else np.full_like(values, np.nan, dtype=float)


def factor_records(groups: list[str], correct: np.ndarray, how: str = "max", percentile: float = 95.0) -> list[Record]:
    """Per group ``top1`` (exact 95% CI) and ``normalised_top1``; ``mean_group_top1`` = the unweighted
    mean over groups (robustness_metrics' ``*_average``), so unevenly filled groups weigh the same."""
    frame = pd.DataFrame({"group": groups, "hit": correct.astype(int)})
    stats = frame.groupby("group", sort=False)["hit"].agg(["sum", "count"])
    accuracy = (stats["sum"] / stats["count"]).to_numpy(dtype=float)
    scaled = normalise(accuracy, how, percentile)
    records = []
    for (group, row), acc, norm in zip(stats.iterrows(), accuracy, scaled, strict=True):
        low, high = clopper_pearson(int(row["sum"]), int(row["count"]))
        records += [
            Record("top1", float(acc), int(row["count"]), group, low, high),
            Record("normalised_top1", float(norm), int(row["count"]), group),
        ]
    records.append(
        Record("mean_group_top1", float(np.mean(accuracy)) if len(accuracy) else float("nan"), len(correct), "")
    )
    return records


def composite_assets(assets: Dataset) -> CompositeAssets:
    """The foregrounds and backgrounds of an SI-SCORE asset dataset (``si-score-samples``) for the generator,
    identified by the dataset's fingerprint."""
    foregrounds = tuple(
        ForegroundAsset(
            s.path,
            Path(s.meta["mask"]) if s.meta.get("mask") else None,
            s.meta["class_index"],
            s.meta["class"],
            s.meta["instance"],
            s.label,
        )
        for s in assets.samples
        if s.meta.get("role") == "foreground"
    )
    backgrounds = tuple(s.path for s in assets.samples if s.meta.get("role") == "background")
    return CompositeAssets(foregrounds, backgrounds, assets.fingerprint())


def generated_composites(
    assets: Dataset, config: GridConfig, *, seed: int = 0, cache_dir: str | None = None
) -> Dataset:
    """Composites of ``assets`` over ``config``, generated into the cache on first use
    (``biasbench.perturb.composite_generator.generated_folder``) and read back as a dataset in the published layout."""
    folder = generated_folder(composite_assets(assets), config, seed=seed, cache_dir=cache_dir)
    return Dataset(SiScoreComposites(), folder, tuple(read_composites(folder)))


class SiScoreParams(ProbeParams):
    variant: Literal["size", "location", "rotation"] = "size"
    mini: bool = False
    # None: the variant's published threshold (size/rotation 0.95, location 0.0).
    min_inside: float | None = Field(None, ge=0.0, le=1.0)
    normalise: Literal["max", "percentile"] = "max"
    percentile: float = Field(95.0, gt=0.0, le=100.0)
    classes: str = ""  # comma-separated foreground classes to keep (all when empty)
    cache_dir: str | None = None  # where generated composites go (default: the user cache)


SI_SCORE_TOP1 = Metric(
    "si-score",
    "top1",
    "Top-1 per group",
    "fraction",
    "more images right",
    condition=None,
    draw="curve",
    section="si-score",
)


@register_probe
class SiScore(Probe):
    name = "si-score"
    summary = "SI-SCORE top-1 per object size / location / rotation, max-normalised curves and heat-maps"
    citation = "Djolonga et al., CVPR 2021 (arXiv 2007.08558)"
    Params = SiScoreParams
    default_datasets = ("si-score-samples",)
    version = 2  # v2: generated composites from the job seed (the probe's own seed parameter is gone)
    metrics = (
        Metric("si-score", "top5", "Top-5 accuracy", "fraction", "more images right", condition=None),
        SI_SCORE_TOP1,
        Metric(
            "si-score", "normalised_top1", "Top-1 / best group", "fraction", "closer to the best group", condition=None
        ),
        Metric("si-score", "mean_group_top1", "Mean top-1 over groups", "fraction", "more images right", headline=True),
    )
    # The three factors on the 9 sample objects x 2 backgrounds: 4 sizes, a 5 x 5 grid of locations, 6 angles.
    demo = tuple(
        DemoRun(("si-score-samples",), params={"variant": v, "mini": True}) for v in ("size", "location", "rotation")
    )

    def composites(self, dataset: Dataset, seed: int = 0) -> tuple[Dataset, str]:
        """The composite images to evaluate and the factor they vary; generated composites pair backgrounds
        with the job's ``seed`` (numpy RandomState; 0 = the published np.random.seed(0))."""
        p = self.params
        classes = [c.strip() for c in p.classes.split(",") if c.strip()]
        if isinstance(dataset.spec, SiScoreComposites):
            # A released variant: filter explicitly on both conditions (the demo notebook's precedence bug).
            keep = tuple(
                s
                for s in dataset.samples
                if float(s.meta["pct_inside_image"]) >= (p.min_inside or 0.0)
                and (not classes or s.meta["class"] in classes)
            )
            return Dataset(dataset.spec, dataset.folder, keep), dataset.spec.factor or VARIANT_FACTOR[p.variant]
        config = preset(p.variant, p.mini).with_min_inside(p.min_inside)
        made = generated_composites(select_classes(dataset, classes), config, seed=seed, cache_dir=p.cache_dir)
        if not len(made):
            raise DatasetError(f"no SI-SCORE composite passed min_inside={config.min_inside}; lower it")
        return made, config.factor

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        composites, factor = self.composites(ctx.dataset, ctx.seed)
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} si-score", dataset=composites)
        result, space, samples = run.result, run.space, run.samples
        topk = result.outputs[CLEAN]["topk"].astype(np.int64)
        metas = [s.meta for s in samples]
        groups = [factor_condition(factor, m) for m in metas]
        records = space_accuracy_records(space, topk, samples) + factor_records(
            groups, space.hits(topk, samples, 1), self.params.normalise, self.params.percentile
        )
        columns = {k: np.array([m[k] for m in metas]) for k in ("x_coord", "y_coord", "area", "rotation", "class")}
        frame = outputs_frame(composites, result, group=np.array(groups), **columns)
        transform = image_transform(composites, ctx.model.preprocess)
        notes = {
            "factor": factor,
            "images": len(composites),
            "folder": str(composites.folder),
            "transform": transform.key,
            "skipped": result.skipped,
        }
        return ProbeOutput(records, frame, notes)
