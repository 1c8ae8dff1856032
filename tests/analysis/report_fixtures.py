"""A demo-like results directory written in code: two models with the demo's measurements (ImageNet sample
accuracy, cue-conflict shape bias, 64-image spectral and critical-band runs, one failed channel fit, a 16-image
PGD-10, layer criticality of two architectures, the three SI-SCORE factors), each job with its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from biasbench.store import ResultsStore

from .conftest import make_records

MODELS = {"net_a": "fixture_a", "net_b": "fixture_b"}
SPECTRAL = {"bias_cutoffs": [0.1, 0.2, 0.3, 0.4, 0.5], "cutoffs": [0.1, 0.2, 0.3, 0.4, 0.5], "mask": "square"}
CRITICAL_BAND = {"adaptive": True, "criterion": 50.0, "noise_rms": "level0", "protocol": "B", "reference": None}
FAILED_FIT = "centre -49.5 lies outside the measured bands 0-6 (an extrapolated peak)"
THRESHOLDS = {"net_a": (0, 1, 2, 3, 4, 4, 3), "net_b": (3, 3, 2, 2, 3, 4, 2)}
LAYERS = {
    "net_a": ["conv1", "layer1.0.conv1", "layer1.0.conv2", "fc"],
    "net_b": ["conv_stem", "blocks.0.0.conv", "classifier"],
}


def add_job(
    store: ResultsStore,
    key: str,
    model: str,
    probe: str,
    dataset: str,
    rows: list[tuple],
    *,
    limit: int | None = None,
    n_images: int | None = None,
    params: dict | None = None,
    notes: dict | None = None,
    cis: dict | None = None,
    samples=None,
    model_info: dict | None = None,
) -> None:
    """Write one job: its records from (metric, condition, value) ``rows``, ``samples`` (per-sample table) and
    a manifest like the runner's (``model_info``: the model's provenance, e.g. a zero-shot head)."""
    frame = make_records([(model, probe, dataset, *r) for r in rows])
    frame["job"] = key
    for (metric, condition), (low, high) in (cis or {}).items():
        hit = (frame["metric"] == metric) & (frame["condition"] == condition)
        frame.loc[hit, ["ci_low", "ci_high"]] = low, high
    manifest = {
        "job": key,
        "model": model,
        "probe": probe,
        "dataset": dataset,
        "limit": limit,
        "n_images": n_images,
        "params": params or {},
        "notes": notes or {},
        "probe_version": 1,
        "seed": 0,
    }
    if model_info is not None:
        manifest["model_info"] = model_info
    store.write(key, frame, samples, manifest)


def write_demo_like(root: Path) -> Path:
    """The results directory and, next to it, ``cats.json`` with the two models' categories."""
    store = ResultsStore(root)
    for k, (model, top1) in enumerate((("net_a", 0.87), ("net_b", 0.44))):
        add_job(
            store,
            f"acc{k}",
            model,
            "accuracy",
            "imagenet-sample",
            [("top1", "", top1)],
            n_images=1000,
            cis={("top1", ""): (top1 - 0.02, top1 + 0.02)},
        )
        sb = 0.24 - 0.09 * k
        add_job(
            store,
            f"sb{k}",
            model,
            "shape-bias",
            "cue-conflict",
            [("shape_bias", "", sb)],
            n_images=1280,
            cis={("shape_bias", ""): (sb - 0.03, sb + 0.03)},
        )
        curve = [
            (f"{kind}/{c}", min(1.0, c * (2.0 - k)) if kind == "lowpass" else c / 10)
            for kind in ("lowpass", "highpass")
            for c in SPECTRAL["cutoffs"]
        ]
        rows = [("ratio_to_clean", cond, v) for cond, v in curve]
        rows += [
            ("low_freq_bias", "", np.mean([v for c, v in curve if c.startswith("low")])),
            ("high_freq_bias", "", np.mean([v for c, v in curve if c.startswith("high")])),
        ]
        add_job(store, f"sp{k}", model, "spectral", "imagenet-sample", rows, limit=64, n_images=64, params=SPECTRAL)
        rows = [("threshold", f"band/{b}", t) for b, t in enumerate(THRESHOLDS[model])]
        if model == "net_a":
            rows += [
                ("bandwidth", "", 4.74),
                ("center_frequency", "", 38.9),
                ("peak_noise_sensitivity", "", 1.0),
                ("fit_degenerate", "", 0.0),
            ]
            notes = {}
        else:
            rows += [
                ("bandwidth", "", np.nan),
                ("center_frequency", "", np.nan),
                ("peak_noise_sensitivity", "", np.nan),
                ("fit_degenerate", "", 1.0),
            ]
            notes = {"fit": {"degenerate": True, "reason": FAILED_FIT}}
        add_job(
            store,
            f"cb{k}",
            model,
            "critical-band",
            "imagenet-sample",
            rows,
            limit=64,
            n_images=64,
            params=CRITICAL_BAND,
            notes=notes,
        )
        add_job(
            store,
            f"pgd{k}",
            model,
            "adversarial",
            "imagenet-sample",
            [("robust_accuracy", "pgd/linf/eps=0.5/255", 0.375 - 0.3 * k)],
            limit=16,
            n_images=16,
            params={"steps": 10, "norm": "linf", "epsilon": [0.5 / 255]},
        )
        layers = LAYERS[model]
        rows = [("criticality", layer, 40.0 + 50 * (i % 2)) for i, layer in enumerate(layers)]
        rows += [("layer_index", layer, float(i)) for i, layer in enumerate(layers)]
        rows += [("mean_criticality", "", 65.0)]
        add_job(
            store,
            f"crit{k}",
            model,
            "criticality",
            "imagenet-sample",
            rows,
            n_images=8,
            params={"num_images": 8, "trials": 1},
        )
        factors = {
            "size": [f"area/{a}" for a in (0.05, 0.1, 0.25, 0.5)],
            "location": [f"x/{x:.2f}/y/{y:.2f}" for x in (0.1, 0.5, 0.9) for y in (0.1, 0.5, 0.9)],
            "rotation": [f"rotation/{r}" for r in (1, 61, 121, 181, 241, 301)],
        }
        for variant, conditions in factors.items():
            rows = [("top1", "", 0.5 - 0.2 * k), ("mean_group_top1", "", 0.5 - 0.2 * k)]
            rows += [("top1", c, (0.3 + 0.05 * i) * (1 - 0.5 * k)) for i, c in enumerate(conditions)]
            rows += [("normalised_top1", c, 0.5 + 0.05 * i) for i, c in enumerate(conditions)]
            add_job(
                store,
                f"si{variant}{k}",
                model,
                "si-score",
                "si-score-samples",
                rows,
                n_images=72,
                params={"variant": variant, "mini": True},
            )
    categories = root / "cats.json"
    categories.write_text(json.dumps({c: [m] for m, c in MODELS.items()}))
    return categories
