"""Why models fail: error ratios per ImageNet-X factor of variation (Idrissi et al., "ImageNet-X: Understanding
Model Mistakes with Factor of Variation Annotations", ICLR 2023), from the stored per-sample predictions on
ImageNet validation (no model is re-run), and their correlation with the biases across models.

As the ``imagenet-x`` package computes them (``imagenet_x/aggregate.py``: ``get_factor_accuracies``,
``compute_factor_accuracies``, ``error_ratio``; annotations from ``utils.load_annotations``):

- annotations: ``imagenet_x_val_<top|multi>_factor.jsonl``; by default the *top* factor (one per image) and
  without the 3,000 "prototypical" images (``prototypical_paths.csv``), 46,110 annotated val images;
- images are matched by file name (``ILSVRC2012_val_XXXXXXXX.JPEG``), predictions joined to annotations by an
  inner join; a prediction is correct when it equals the annotation's ``class``;
- factor accuracy = correct / images among the images with that factor; ``average`` = accuracy over all
  matched annotated images; error ratio = (1 - factor accuracy) / (1 - average): above 1 the model fails more
  often on images with that factor than on average.

Stored images whose file name is not an ImageNet validation file name (the shared imagenet-sample images are
named by class, ImageNetV2 by hash) are skipped and counted, never guessed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from biasbench.analysis.correlation import correlation_table
from biasbench.analysis.scores import bias_table
from biasbench.analysis.selection import JobSelector
from biasbench.core.errors import BiasbenchError
from biasbench.data.datasets import get_dataset_spec
from biasbench.probes.outputs import unperturbed_rows
from biasbench.store.results import ResultsStore, load_results

VAL_FILE = re.compile(r"^ILSVRC2012_val_(\d{8})\.jpe?g$", re.IGNORECASE)
FACTOR_SETS = ("top", "multi")
# Label spaces whose stored top-1 is a 1000-way ImageNet index (the prediction ImageNet-X scores).
IMAGENET_1000_SPACES = ("imagenet", "imagenet-real")
# The datasets of ImageNet validation images a report reads failure factors from, in order of preference.
VAL_DATASETS = ("imagenet-val", "imagenet-real")
# How a note says that a model's stored images were skipped (the report sums these notes into one line).
NOT_VAL = "stored images are not ImageNet validation files"
COUNT_COLUMNS = ("model", "job", "dataset", "stored", "not_val", "val", "annotated", "label_mismatch")


def _imagenet_x():
    try:
        import imagenet_x
    except ImportError:
        raise BiasbenchError(
            "failure factors need the ImageNet-X annotations of the imagenet-x package: "
            "pip install 'biasbench[factors]' (or pip install imagenet-x==0.0.7)"
        ) from None
    return imagenet_x


def factor_names() -> tuple[str, ...]:
    """The 16 ImageNet-X factors in the package's order (pose, background, pattern, color, smaller, ...)."""
    return tuple(_imagenet_x().FACTORS)


def imagenet_x_annotations(factors: str = "top", filter_prototypes: bool = True) -> pd.DataFrame:
    """ImageNet-X validation annotations (file_name, class, one 0/1 column per factor, ...), loaded by the
    package; ``factors`` is ``top`` (the one main factor per image) or ``multi`` (every factor annotated)."""
    if factors not in FACTOR_SETS:
        raise BiasbenchError(f"ImageNet-X factors {factors!r}: use one of {', '.join(FACTOR_SETS)}")
    return _imagenet_x().load_annotations(which_factor=factors, partition="val", filter_prototypes=filter_prototypes)


def val_file_name(path: str) -> str | None:
    """The canonical ``ILSVRC2012_val_XXXXXXXX.JPEG`` of a stored file path, or None when its name is not an
    ImageNet validation file name."""
    match = VAL_FILE.match(Path(str(path)).name)
    return None if match is None else f"ILSVRC2012_val_{match[1]}.JPEG"


def factor_error_ratios(predictions: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """Long table (model, factor, n, errors, error_rate, error_ratio) from ``predictions`` (model, file_name,
    predicted_class) and ImageNet-X ``annotations``. Factor rows are in the package's factor order; a factor
    no matched image has gets NaN, as does every ratio of a model without errors."""
    factors = [f for f in factor_names() if f in annotations]
    merged = predictions.merge(annotations[["file_name", "class", *factors]], on="file_name", how="inner")
    rows = []
    for model, part in merged.groupby("model", sort=False):
        wrong = (part["predicted_class"].to_numpy() != part["class"].to_numpy()).astype(float)
        overall = wrong.mean()
        for factor in factors:
            has = part[factor].to_numpy() == 1
            n = int(has.sum())
            rate = wrong[has].mean() if n else np.nan
            ratio = rate / overall if overall > 0 else np.nan
            rows.append((model, factor, n, int(wrong[has].sum()), rate, ratio))
        rows.append((model, "average", len(wrong), int(wrong.sum()), overall, 1.0 if overall > 0 else np.nan))
    return pd.DataFrame(rows, columns=["model", "factor", "n", "errors", "error_rate", "error_ratio"])


def ratio_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Model x factor matrix of error ratios (factors in the package's order, ``average`` left out)."""
    factors = [f for f in dict.fromkeys(table["factor"]) if f != "average"]
    matrix = table.pivot(index="model", columns="factor", values="error_ratio")
    return matrix.reindex(index=list(dict.fromkeys(table["model"])), columns=factors).rename_axis("model")


@dataclass
class StoredPredictions:
    """Top-1 predictions on ImageNet validation files per model (model, file_name, predicted_class, label)
    and, per model, how many stored images were read, skipped (not a val file) and kept."""

    predictions: pd.DataFrame
    counts: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def stored_predictions(
    results_dir: str | os.PathLike[str],
    dataset: str = "imagenet-val",
    probe: str = "accuracy",
    selector: JobSelector | None = None,
) -> StoredPredictions:
    """The unperturbed top-1 predictions that ``probe`` stored on ``dataset``, one job per model (chosen by
    ``selector``'s rule). The dataset's label space must give 1000-way ImageNet predictions."""
    space = get_dataset_spec(dataset).label_space
    if space not in IMAGENET_1000_SPACES:
        raise BiasbenchError(
            f"dataset {dataset!r} is scored in label space {space!r}, not over the 1000 ImageNet classes that "
            f"ImageNet-X annotates; use a dataset of ImageNet validation images scored 1000-way "
            f"(imagenet-val or imagenet-real)"
        )
    store = ResultsStore(results_dir)
    manifests = store.manifests_by_job()
    chosen, notes = (selector or JobSelector(manifests)).per_model(manifests, probe, dataset)
    frames, counts = [], []
    for model, job in chosen.items():
        samples = unperturbed_rows(store.samples(job.key))
        if samples.empty or "topk" not in samples:
            notes.append(f"{model}: job {job.key} stored no per-sample top-k predictions; skipped")
            continue
        names = samples["file"].map(val_file_name)
        kept = samples[names.notna()]
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "file_name": names[names.notna()].to_numpy(),
                    "predicted_class": kept["topk"].map(lambda t: int(t[0])).to_numpy(),
                    "label": kept["label"].to_numpy(),
                }
            )
        )
        counts.append((model, job.key, dataset, len(samples), int(names.isna().sum()), len(kept)))
    columns = ["model", "file_name", "predicted_class", "label"]
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return StoredPredictions(predictions, pd.DataFrame(counts, columns=list(COUNT_COLUMNS[:6])), notes)


@dataclass
class FailureFactors:
    """Per-model error ratios (``ratios``: model x factor; ``table``: long, with n and error rates), what was
    read and skipped per model (``counts``), the bias x factor correlations and notes."""

    ratios: pd.DataFrame
    table: pd.DataFrame
    counts: pd.DataFrame
    correlations: pd.DataFrame
    biases: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def bias_factor_correlations(
    biases: pd.DataFrame,
    ratios: pd.DataFrame,
    *,
    categories: pd.Series | None = None,
    methods: tuple[str, ...] = ("spearman",),
    n_boot: int = 1000,
    seed: int = 0,
    min_models: int = 3,
) -> pd.DataFrame:
    """Every bias against every factor's error ratio across models (``correlation_table``: bootstrap CIs,
    Holm / BH within each subset); columns with fewer than ``min_models`` values are left out."""
    left = biases[[c for c in biases if biases[c].notna().sum() >= min_models]]
    right = ratios[[c for c in ratios if ratios[c].notna().sum() >= min_models]]
    if not left.shape[1] or not right.shape[1] or len(left.index.intersection(right.index)) < min_models:
        return pd.DataFrame()
    return correlation_table(
        left, right, categories=categories, methods=methods, n_boot=n_boot, seed=seed, min_n=min_models
    )


def analyse_failure_factors(
    results_dir: str | os.PathLike[str],
    *,
    dataset: str = "imagenet-val",
    probe: str = "accuracy",
    factors: str = "top",
    filter_prototypes: bool = True,
    selector: JobSelector | None = None,
    categories: pd.Series | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> FailureFactors:
    """ImageNet-X error ratios of every model with stored predictions of ``probe`` on ``dataset`` and their
    Spearman correlations with the biases of the same results directory (module docstring)."""
    annotations = imagenet_x_annotations(factors, filter_prototypes)
    stored = stored_predictions(results_dir, dataset, probe, selector)
    notes = list(stored.notes)
    predictions = stored.predictions
    matched = predictions.merge(annotations[["file_name", "class"]], on="file_name", how="inner")
    counts = stored.counts.set_index("model")
    counts["annotated"] = matched.groupby("model").size().reindex(counts.index, fill_value=0)
    counts["label_mismatch"] = (
        (matched["label"] != matched["class"]).groupby(matched["model"]).sum().reindex(counts.index, fill_value=0)
    )
    counts = counts.reset_index()[list(COUNT_COLUMNS)]
    for row in counts.itertuples():
        if row.not_val:
            notes.append(
                f"{row.model}: {row.not_val} of {row.stored} {NOT_VAL} "
                "(not named ILSVRC2012_val_XXXXXXXX.JPEG); skipped"
            )
        if row.label_mismatch:
            notes.append(
                f"{row.model}: {row.label_mismatch} images' stored label differs from ImageNet-X's class "
                "(scored against ImageNet-X's, as the package does)"
            )
    if counts.empty:
        notes.append(f"no finished {probe} job on {dataset} in {results_dir}: `biasbench run -p {probe} -d {dataset}`")
    table = factor_error_ratios(predictions, annotations)
    ratios = ratio_matrix(table) if len(table) else pd.DataFrame(columns=list(factor_names()))
    biases = bias_table(load_results(results_dir), selector=selector).values
    correlations = bias_factor_correlations(biases, ratios, categories=categories, n_boot=n_boot, seed=seed)
    if correlations.empty:
        notes.append(
            f"no bias-factor correlations: they need at least 3 models with a bias and ImageNet-X error ratios "
            f"(have error ratios for {len(ratios)} model(s))"
        )
    return FailureFactors(ratios, table, counts, correlations, biases, notes)


def report_failure_factors(
    results_dir: str | os.PathLike[str],
    *,
    selector: JobSelector | None = None,
    categories: pd.Series | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[FailureFactors | None, list[str]]:
    """The failure factors a report shows: from the accuracy jobs on ImageNet validation (``imagenet-val``, else
    ``imagenet-real``) when their stored files are validation files; otherwise None and, only where such jobs
    ran, one note saying why there is nothing (the package is missing, or every stored file was skipped)."""
    manifests = ResultsStore(results_dir).manifests_by_job()
    ran = {m.get("dataset") for m in manifests.values() if m.get("probe") == "accuracy"}
    dataset = next((d for d in VAL_DATASETS if d in ran), None)
    if dataset is None:
        return None, []
    try:
        _imagenet_x()
    except BiasbenchError as e:
        return None, [f"ImageNet-X failure factors of the accuracy jobs on {dataset}: {e}."]
    result = analyse_failure_factors(results_dir, dataset=dataset, selector=selector, categories=categories,
                                     n_boot=n_boot, seed=seed)  # fmt: skip
    if result.ratios.empty:
        counts = result.counts
        return None, [
            f"ImageNet-X failure factors: none of the {int(counts['stored'].sum()):,} stored images of the accuracy "
            f"jobs on {dataset} ({len(counts)} model(s)) is an annotated ImageNet validation file "
            "(ILSVRC2012_val_XXXXXXXX.JPEG); every one was skipped."
        ]
    return result, []
