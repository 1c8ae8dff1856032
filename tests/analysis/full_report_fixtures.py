"""A results directory written in code that gives the report every section added for effective robustness,
failure factors, the ranking-based shape bias and models that are not ImageNet classifiers:

- six ImageNet classifiers (four ``baseline``, two ``augmentation``) with ImageNet-val top-1 (the per-sample
  table names 1,200 validation files, plus 20 images that are not), ImageNet-R and -Sketch top-1, cue-conflict
  shape bias with the ranking-based metrics, and REFINED-BIAS's own stimuli;
- a zero-shot CLIP model over the 16 category names (manifest ``model_info``: head, templates) with a shape bias;
- a VLM's imported answers (its prompt a parameter of the job) with a shape bias.

Every number is set here, so the tests compare the rendered tables against the analysis outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from biasbench.store import ResultsStore

from .report_fixtures import add_job

CLASSIFIERS = {  # model -> (category, ImageNet top-1, offset from the baseline line on ImageNet-R, shape bias)
    "base_a": ("baseline", 0.70, 0.00, 0.20),
    "base_b": ("baseline", 0.73, 0.01, 0.22),
    "base_c": ("baseline", 0.76, -0.01, 0.21),
    "base_d": ("baseline", 0.79, 0.00, 0.24),
    "aug_a": ("augmentation", 0.72, 0.06, 0.35),
    "aug_b": ("augmentation", 0.75, 0.10, 0.45),
}
ZERO_SHOT = "openclip:test-clip-vit?pretrained=none&head=categories16"
VLM = "vlm-7b"
PROMPT = "Which option best describes the image?\nA. airplane\nB. bear\nAnswer with the option's letter."
SHAPE_BIAS_OTHERS = {ZERO_SHOT: 0.55, VLM: 0.62}
N_VAL, N_OTHER = 1200, 20


def logistic(x):
    return 1 / (1 + np.exp(-x))


def logit(p):
    return np.log(p / (1 - p))


def ood_top1(top1: float, offset: float, slope: float, intercept: float) -> float:
    return float(logistic(slope * logit(top1) + intercept) + offset)


def val_files(n: int = N_VAL) -> pd.DataFrame:
    """``n`` ImageNet validation file names with their labels: ImageNet-X's own list when the package is
    installed (so its annotations match), else consecutive names with arbitrary labels."""
    try:
        from imagenet_x.utils import get_annotation_path

        return pd.read_csv(get_annotation_path() / "filename_label.csv").sample(n, random_state=4)
    except ImportError:
        names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, n + 1)]
        return pd.DataFrame({"file_name": names, "label": np.arange(n) % 1000})


def _samples(files: pd.DataFrame, top1: float, seed: int) -> tuple[pd.DataFrame, float]:
    """Per-sample rows on the val files (right with probability ``top1``) and 20 non-val files; the top-1 of
    the val files."""
    rng = np.random.default_rng(seed)
    right = rng.random(len(files)) < top1
    predicted = np.where(right, files["label"], (files["label"] + 1 + rng.integers(0, 998, len(files))) % 1000)
    names = [f"n0000000{i % 10}/{f}" for i, f in enumerate(files["file_name"])]
    names += [f"extra_{i}.JPEG" for i in range(N_OTHER)]
    labels = [*files["label"], *range(N_OTHER)]
    top = [*predicted, *range(N_OTHER)]
    samples = pd.DataFrame({"index": range(len(names)), "file": names, "condition": "clean", "label": labels})
    samples["topk"] = [[int(t), 1, 2, 3, 4] for t in top]
    return samples, float(right[: len(files)].mean())


def write_full(root: Path) -> Path:
    """The results directory at ``root`` and ``cats.json`` beside it (the classifiers' categories)."""
    store = ResultsStore(root)
    files = val_files()
    classifier = {"head": "imagenet", "name": "fixture"}
    for k, (model, (_, top1, offset, shape)) in enumerate(CLASSIFIERS.items()):
        samples, measured = _samples(files, top1, seed=k)
        add_job(store, f"val{k}", model, "accuracy", "imagenet-val", [("top1", "", measured)],
                n_images=N_VAL + N_OTHER, samples=samples, model_info=classifier)  # fmt: skip
        add_job(store, f"r{k}", model, "accuracy", "imagenet-r", [("top1", "", ood_top1(measured, offset, 1.1, -1.2))])
        sketch = ood_top1(measured, offset / 2, 1.3, -1.6)
        add_job(store, f"sk{k}", model, "accuracy", "imagenet-sketch", [("top1", "", sketch)])
        mrr = shape + 0.02 * (k % 3)
        rows = [("shape_bias", "", shape), ("shape_bias_mrr", "", mrr), ("shape_mrr", "", mrr / 4),
                ("texture_mrr", "", (1 - mrr) / 4)]  # fmt: skip
        cis = {("shape_bias", ""): (shape - 0.03, shape + 0.03), ("shape_bias_mrr", ""): (mrr - 0.03, mrr + 0.03)}
        add_job(
            store, f"sb{k}", model, "shape-bias", "cue-conflict", rows, n_images=1280, cis=cis, model_info=classifier
        )
        add_job(store, f"rbs{k}", model, "refined-bias", "refined-bias-shape", [("mrr", "", 0.1 + shape / 2)])
        add_job(store, f"rbt{k}", model, "refined-bias", "refined-bias-texture", [("mrr", "", 0.4 - shape / 4)])
    zero_shot = {"head": "categories16", "templates": "openai80", "n_templates": 80, "open_clip": "3.3.0"}
    add_job(store, "zs", ZERO_SHOT, "shape-bias", "cue-conflict", [("shape_bias", "", SHAPE_BIAS_OTHERS[ZERO_SHOT])],
         n_images=1280, model_info=zero_shot)  # fmt: skip
    add_job(store, "vlm", VLM, "shape-bias", "cue-conflict", [("shape_bias", "", SHAPE_BIAS_OTHERS[VLM])],
         n_images=1280, params={"bootstrap_reps": 2000, "prompt": PROMPT})  # fmt: skip
    categories = root / "cats.json"
    by_category: dict[str, list[str]] = {}
    for model, (category, *_) in CLASSIFIERS.items():
        by_category.setdefault(category, []).append(model)
    categories.write_text(json.dumps(by_category))
    return categories
