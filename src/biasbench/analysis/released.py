"""Readers of the authors' released results, converted into biasbench's record schema.

- Gavrikov & Keuper (CVPR 2024) ``benchmark.csv`` + ``r50_categories.json`` (``biases-vs-generalization/``)
- Gavrikov et al. (2024) layer criticality ``results.csv`` (``layer-criticality/``)

Converting into records first lets the reproduction run through exactly the code that analyses
biasbench's own results.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from biasbench.analysis.specs import IMAGENET_TOP1, PGD_ROBUST, REAL_TOP1, SCORES, Member
from biasbench.core.errors import DatasetError
from biasbench.core.paths import resolve_data_root
from biasbench.probes.criticality import layout_records
from biasbench.probes.spectral import BIAS_CUTOFFS, spectral_bias_records
from biasbench.store.conditions import Filter
from biasbench.store.records import RECORD_COLUMNS

GAVRIKOV2024 = "biases-vs-generalization"
LAYER_CRITICALITY = "layer-criticality"
CATEGORIES_FILE = "r50_categories.json"

# benchmark.csv column -> (record key, factor to the record's unit). Accuracies are stored in percent there
# and as fractions in records. Critical-band parameters: the "_norm" columns the study analyses (§4.6).
# The ReaL and PGD columns are the study's buggy values (last batch only; 50,048 denominator, METHODS.md
# §5.1-5.2), so they go under the compat metric names, never under the canonical ones.
_member = {m.dataset: m for s in SCORES for m in s.members}
BENCHMARK_COLUMNS: dict[str, tuple[Member, float]] = {
    "top1_acc/imagenet": (IMAGENET_TOP1, 0.01),
    "top1_acc/imagenet-v2": (_member["imagenet-v2"], 0.01),
    "top1_acc/imagenet-real": (REAL_TOP1.as_published(), 0.01),
    "top1_acc/imagenet-a": (_member["imagenet-a"], 0.01),
    "top1_acc/imagenet-c": (_member["imagenet-c"], 0.01),
    "top1_acc/imagenet-cbar": (_member["imagenet-cbar"], 0.01),
    "top1_acc/imagenet-sketch": (_member["imagenet-sketch"], 0.01),
    "top1_acc/imagenet-r": (_member["imagenet-r"], 0.01),
    "top1_acc/stylized": (_member["stylized"], 0.01),
    "top1_acc/PGD-40/low": (PGD_ROBUST.as_published(), 0.01),
    "shape-bias": (Member("shape-bias", "cue-conflict", "shape_bias"), 1.0),
    "metric/criticalband/bw_norm": (Member("critical-band", "imagenet-val", "bandwidth"), 1.0),
    "metric/criticalband/cf_norm": (Member("critical-band", "imagenet-val", "center_frequency"), 1.0),
    "metric/criticalband/pns_norm": (Member("critical-band", "imagenet-val", "peak_noise_sensitivity"), 1.0),
}
# metric/bandpass/{LFC,HFC}/<c> -> spectral ratio_to_clean at "lowpass/<c>" / "highpass/<c>".
_BANDPASS = re.compile(r"^metric/bandpass/(?P<kind>LFC|HFC)/(?P<cutoff>[\d.eE+-]+)$")
_BANDPASS_KIND = {"LFC": "lowpass", "HFC": "highpass"}


def released_dir(name: str, explicit: str | os.PathLike[str] | None, required: tuple[str, ...]) -> Path:
    """Folder of one released data set: ``explicit`` or ``<data root>/<name>``; checks its files exist."""
    folder = Path(explicit).expanduser() if explicit else resolve_data_root() / name
    missing = [f for f in required if not (folder / f).is_file()]
    if missing:
        raise DatasetError(
            f"released data not found: {', '.join(str(folder / f) for f in missing)} missing. Pass --data "
            f"PATH to the folder holding {', '.join(required)}, or set BIASBENCH_DATA to the data root "
            f"that contains {name}/."
        )
    return folder


def read_categories(path: str | os.PathLike[str]) -> pd.Series:
    """``{category: [model, ...]}`` JSON -> Series model -> category (order of the file)."""
    mapping = json.loads(Path(path).read_text())
    pairs = [(model, category) for category, models in mapping.items() for model in models]
    series = pd.Series(dict(pairs), name="category")
    if len(series) != len(pairs):
        raise DatasetError(f"{path} lists a model under more than one category; fix the file.")
    series.index.name = "model"
    return series


def _records(rows: list[tuple], job: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["model", "probe", "dataset", "metric", "condition", "value", "n"])
    frame["ci_low"] = frame["ci_high"] = float("nan")
    frame["job"], frame["caveat"] = job, ""
    return frame[list(RECORD_COLUMNS)]


def _column_rule(column: str) -> tuple[Member, float] | None:
    if column in BENCHMARK_COLUMNS:
        return BENCHMARK_COLUMNS[column]
    match = _BANDPASS.match(column)
    if match:  # float keys such as 0.30000000000000004 are written as their value: 0.3
        condition = str(Filter(_BANDPASS_KIND[match["kind"]], float(match["cutoff"])))
        return Member("spectral", "imagenet-val", "ratio_to_clean", condition), 1.0
    return None


def _spectral_biases(wide: pd.DataFrame) -> list[tuple]:
    # The study's LFB/HFB from its bandpass columns, through the spectral probe's own formula (§3.3).
    ratios: dict[str, dict[tuple[str, float], float]] = {}
    for column in wide.columns:
        match = _BANDPASS.match(column)
        if match:
            kind, cutoff = _BANDPASS_KIND[match["kind"]], round(float(match["cutoff"]), 10)
            for model, value in wide[column].dropna().items():
                ratios.setdefault(model, {})[(kind, cutoff)] = value
    wanted = {(k, c) for k in _BANDPASS_KIND.values() for c in BIAS_CUTOFFS}
    return [
        (model, "spectral", "imagenet-val", r.metric, r.condition, r.value, r.n)
        for model, by_cutoff in ratios.items()
        if wanted <= by_cutoff.keys()
        for r in spectral_bias_records(by_cutoff, BIAS_CUTOFFS)
    ]


def benchmark_records(path: str | os.PathLike[str], models: pd.Index | None = None) -> pd.DataFrame:
    """Records from the released ``benchmark.csv`` (one row per model, one column per number).

    The ReaL and PGD-40 columns become ``top1_compat_last_batch`` and ``robust_accuracy_compat_denominator``
    (the study's values are those variants); the bandpass columns become ``ratio_to_clean`` per cut-off and
    the spectral probe's ``low_freq_bias`` / ``high_freq_bias`` / ``spectral_bias`` over cut-offs 0.1-0.5.
    """
    wide = pd.read_csv(path)
    if "model" not in wide.columns:
        raise DatasetError(f"{path} has no 'model' column; is it the study's benchmark.csv?")
    wide = wide.set_index("model")
    if models is not None:
        absent = models.difference(wide.index)
        if len(absent):
            raise DatasetError(f"{path} lacks models {', '.join(absent)} listed in the categories file.")
        wide = wide.loc[models]
    rows = []
    for column in wide.columns:
        rule = _column_rule(column)
        if rule is None:  # columns of other projects (erf, filter quality, ...) the study does not use
            continue
        member, factor = rule
        for model, value in wide[column].dropna().items():
            rows.append((model, member.probe, member.dataset, member.metric, member.condition, value * factor, 0))
    rows += _spectral_biases(wide)
    return _records(rows, "released:gavrikov2024")


def _reference_accuracy(frame: pd.DataFrame) -> pd.Series:
    # results.csv has no row for the unmodified model, but recovered_acc = top1(reset) / top1(original),
    # so top1(original) = top1_acc / recovered_acc (constant per model to 1e-12; median guards 0/0 rows).
    ratio = frame["top1_acc"] / frame["recovered_acc"]
    return ratio[frame["recovered_acc"] > 0].groupby(frame["model_id"]).median()


# The released layer-criticality study measured ResNet-50s only (torchvision / timm module names).
LAYER_CRITICALITY_ARCHITECTURE = "resnet50"


def criticality_records(path: str | os.PathLike[str], n_images: int = 10_000) -> pd.DataFrame:
    """Records from the released layer-criticality ``results.csv``.

    Per (model, layer): probe ``criticality``, metric ``criticality`` = (1 - mean over trials of
    pred_cos_sim) x 100, condition = layer module name without the wrapper's ``model.`` prefix,
    n = number of trials. Per model: the criticality probe's ``layout_records`` (mean, per-stage,
    network order; stages from timm's ResNet-50 groups, exactly as the probe assigns them) and the
    unmodified model's top-1 on the 10k evaluation images as an ``accuracy``/``imagenet-val``/``top1``
    record (fraction).
    """
    from biasbench.models.layers import layer_stages, learnable_layers, meta_network

    frame = pd.read_csv(path)
    needed = {"model_id", "layer", "pred_cos_sim", "trial", "top1_acc", "recovered_acc"}
    if not needed <= set(frame.columns):
        raise DatasetError(f"{path} lacks columns {sorted(needed - set(frame.columns))}; is it results.csv?")
    per_layer = frame.groupby(["model_id", "layer"], sort=False).agg(
        cos=("pred_cos_sim", "mean"), trials=("trial", "nunique")
    )
    net = meta_network(LAYER_CRITICALITY_ARCHITECTURE)
    order = {layer: i for i, layer in enumerate(learnable_layers(net))}
    unknown = sorted({_strip(layer) for _, layer in per_layer.index} - order.keys())
    if unknown:
        raise DatasetError(f"{path}: layers {unknown[:5]} are not layers of {LAYER_CRITICALITY_ARCHITECTURE}")
    stages = layer_stages(net, list(order))
    rows: list[tuple] = []
    for model, group in per_layer.groupby(level="model_id", sort=False):
        values = {_strip(layer): (1 - r.cos) * 100 for (_, layer), r in group.iterrows()}
        trials = {_strip(layer): int(r.trials) for (_, layer), r in group.iterrows()}
        values = dict(sorted(values.items(), key=lambda item: order[item[0]]))
        rows += [(model, "criticality", "imagenet-val", "criticality", k, v, trials[k]) for k, v in values.items()]
        rows += [
            (model, "criticality", "imagenet-val", r.metric, r.condition, r.value, int(group["trials"].max()))
            for r in layout_records(values, stages, 0)
        ]
    rows += [(model, *_key(IMAGENET_TOP1), acc / 100, n_images) for model, acc in _reference_accuracy(frame).items()]
    return _records(rows, "released:layer-criticality")


def _strip(layer: str) -> str:
    return layer.removeprefix("model.")


def _key(member: Member) -> tuple[str, str, str, str]:
    return member.probe, member.dataset, member.metric, member.condition


LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    GAVRIKOV2024: benchmark_records,
    LAYER_CRITICALITY: criticality_records,
}
