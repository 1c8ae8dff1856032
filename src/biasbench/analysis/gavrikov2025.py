"""Gavrikov et al., *Can We Talk Models Into Seeing the World Differently?* (ICLR 2025): shape bias and cue
accuracy of every released per-image decisions file, the released prompt search beside the neutral prompt, and
the human value of model-vs-human.

The study's definitions (``paulgavrikov/vlm_shapebias`` ``code/shapebias_utils.py``, ``shapebias_from_df``): of
the 1,280 stimuli, the 1,200 whose shape and texture categories differ count; **cue accuracy** is the fraction of
them decided as either cue, **shape bias** = shape decisions / (shape + texture decisions). An answer naming
another category, no category (``None``) or nothing counts for neither. Each file is read by
``data.labels.decisions.read_decisions`` (checked against the stimuli) and counted by the shape-bias probe's own
``shape_bias_records``, so the reproduction and an imported VLM (``biasbench import decisions``) share one path.

Families are the released folders (``raw-data/<folder>``): ImageNet classifiers (1000 classes mapped to 16 as in
model-vs-human), zero-shot CLIP over the 16 category names under three templates (``code/eval_clip.py``: CLIP's
80 ImageNet templates averaged, the default; the bare name; "a photo of a {}."), VLMs answering the study's
multiple-choice prompt (``code/clf_vqa.py`` maps the letter to its category) and VLMs captioning (the caption
classified afterwards by text-embedding similarity, ``code/clf_caption.py``; the ``pred_llm_judge`` column is an
alternative annotation the decisions do not use).

The prompt search (``code/llm_prompt_search.py``): an LLM proposes an instruction, the system appends the 16
options, and the VLM's accuracy and shape bias on all 1,200 conflict stimuli are written per step into
``prompt_search_results.csv``. The neutral prompt's numbers come from the model's released multiple-choice file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from biasbench.analysis.humans import HUMAN_DATA, HUMANS, read_human_trials, shape_bias_per_category
from biasbench.analysis.released import released_dir
from biasbench.core.errors import DatasetError
from biasbench.core.paths import resolve_data_root
from biasbench.data.datasets import Dataset, load_dataset
from biasbench.data.labels.categories16 import CATEGORIES16
from biasbench.data.labels.decisions import read_decisions
from biasbench.probes.shape_bias import shape_bias_records

GAVRIKOV2025 = "vlm-shapebias"
RAW = "raw-data"
SEARCH_FILE = "prompt_search_results.csv"
SEARCH_COLUMNS = ("Model", "accuracy", "shape_bias", "prompt")

# The study's prompts (README "Prompts"; eval_vlm.py's default caption prompt).
VQA_PROMPT = (
    "Which option best describes the image?\n"
    + "".join(f"{letter}. {name}\n" for letter, name in zip("ABCDEFGHIJKLMNOP", CATEGORIES16, strict=True))
    + "Answer with the option's letter from the given choices directly."
)
CAPTION_PROMPT = "Describe the image. Keep your response short."
# eval_clip.py writes the template into the file name: None (the 80 templates), "{}" -> CLS, spaces -> "_".
CLIP_TEMPLATES: dict[str, tuple[str, str]] = {
    "a_photo_of_a_CLS.": ("a photo of a {}.", "a photo of a {}."),
    "CLS": ("{}", "{}"),
    "None": ("80 templates", "CLIP's 80 ImageNet templates, text embeddings averaged"),
}
ENSEMBLE = "80 templates"
_RUN_STAMP = re.compile(r"^[0-9x]{8}_[0-9y]{6}_")


def _classifier(stem: str) -> tuple[str, str, str]:
    return stem, "", ""


def _clip(stem: str) -> tuple[str, str, str]:
    for suffix, (name, text) in CLIP_TEMPLATES.items():
        if stem.endswith(f"_{suffix}"):
            return stem.removesuffix(f"_{suffix}"), name, text
    raise DatasetError(f"clip/{stem}.csv: the file name ends in none of the templates {', '.join(CLIP_TEMPLATES)}")


def _vlm(prompt_name: str, prompt: str) -> Callable[[str], tuple[str, str, str]]:
    return lambda stem: (_RUN_STAMP.sub("", stem), prompt_name, prompt)


@dataclass(frozen=True)
class Family:
    """One model family of the study: its released folder, title, how a file name gives (model, prompt name,
    prompt text), and the prompt of the point it contributes to the overview figure."""

    key: str
    title: str
    folder: str
    describe: Callable[[str], tuple[str, str, str]]
    figure_prompt: str


FAMILIES: dict[str, Family] = {
    f.key: f
    for f in (
        Family("inet_classifier", "ImageNet classifiers", "inet_classifier", _classifier, ""),
        Family("clip", "zero-shot CLIP", "clip", _clip, ENSEMBLE),
        Family("vqa", "VLM multiple-choice", "vlm/vqa", _vlm("multiple choice", VQA_PROMPT), "multiple choice"),
        Family("captioning", "VLM captioning", "vlm/captioning", _vlm("caption", CAPTION_PROMPT), "caption"),
    )
}
MODEL_COLUMNS = [
    "family", "model", "prompt", "shape_bias", "ci_low", "ci_high", "cue_accuracy", "n_shape", "n_texture",
    "n_conflict", "n_no_decision", "file", "prompt_text",
]  # fmt: skip


@dataclass
class Gavrikov2025Tables:
    """``models``: one row per released file (``MODEL_COLUMNS``); ``steering``: one row per prompt-search step
    beside its model's neutral prompt; ``steering_summary``: the range per searched model and over all of them;
    ``human_shape_bias``: model-vs-human's pooled human value (NaN when its raw data are absent)."""

    models: pd.DataFrame
    steering: pd.DataFrame
    steering_summary: pd.DataFrame
    human_shape_bias: float
    notes: list[str] = field(default_factory=list)


def decision_row(path: Path, family: Family, dataset: Dataset, *, seed: int = 0, reps: int = 2000) -> dict:
    """Shape bias (with its bootstrap CI when ``reps`` > 0), cue accuracy and counts of one decisions file."""
    model, prompt, text = family.describe(path.stem)
    decisions = read_decisions(path, dataset)
    records = {
        r.metric: r
        for r in shape_bias_records(decisions.decision, decisions.shape, decisions.texture, seed=seed, reps=reps)
    }
    n_shape, n_texture = int(records["n_shape"].value), int(records["n_texture"].value)
    n_conflict = records["n_shape"].n
    return {
        "family": family.title,
        "model": model,
        "prompt": prompt,
        "shape_bias": records["shape_bias"].value,
        "ci_low": records["shape_bias"].ci_low,
        "ci_high": records["shape_bias"].ci_high,
        "cue_accuracy": (n_shape + n_texture) / n_conflict,
        "n_shape": n_shape,
        "n_texture": n_texture,
        "n_conflict": n_conflict,
        "n_no_decision": decisions.n_no_decision,
        "prompt_text": text,
    }


def model_table(
    raw: Path, dataset: Dataset, *, seed: int = 0, reps: int = 2000, progress: Callable[[Path], None] | None = None
) -> pd.DataFrame:
    """``decision_row`` of every released decisions file, families in ``FAMILIES`` order, files sorted."""
    files = [(f, p) for f in FAMILIES.values() for p in sorted((raw / f.folder).glob("*.csv"))]
    if not files:
        raise DatasetError(f"no decisions CSVs under {raw} (expected {', '.join(f.folder for f in FAMILIES.values())})")
    rows = []
    for family, path in files:
        rows.append({**decision_row(path, family, dataset, seed=seed, reps=reps), "file": str(path.relative_to(raw))})
        if progress is not None:
            progress(path)
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def figure_rows(models: pd.DataFrame) -> pd.DataFrame:
    """Each model once, at its family's figure prompt (zero-shot CLIP: the 80-template ensemble)."""
    wanted = {f.title: f.figure_prompt for f in FAMILIES.values()}
    return models[models["prompt"] == models["family"].map(wanted)]


def prompt_table(models: pd.DataFrame, families: Sequence[str], value: str = "shape_bias") -> pd.DataFrame:
    """``value`` of the models (rows) of ``families`` (keys of ``FAMILIES``) under each of their prompts
    (columns): a zero-shot CLIP model under its three templates, a VLM answering multiple choice or captioning."""
    part = models[models["family"].isin([FAMILIES[f].title for f in families])]
    table = part.pivot(index="model", columns="prompt", values=value)
    table.columns.name = None
    return table


def read_prompt_search(path: Path) -> pd.DataFrame:
    """The released search: ``step`` (its row id), ``model``, ``instruction`` (the searched text before the
    options the system appends), ``accuracy``, ``shape_bias`` and the full ``prompt``."""
    raw = pd.read_csv(path)
    absent = [c for c in SEARCH_COLUMNS if c not in raw.columns]
    if absent:
        raise DatasetError(f"{path} lacks columns {absent}; is it the study's {SEARCH_FILE}?")
    step = raw[raw.columns[0]] if raw.columns[0] not in SEARCH_COLUMNS else pd.Series(range(len(raw)))
    return pd.DataFrame(
        {
            "step": step.astype(int),
            "model": raw["Model"].astype(str),
            "instruction": raw["prompt"].astype(str).str.split(" Options:").str[0].str.strip(),
            "accuracy": raw["accuracy"].astype(float),
            "shape_bias": raw["shape_bias"].astype(float),
            "prompt": raw["prompt"].astype(str),
        }
    )


def steering_table(search: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Every searched prompt beside its model's neutral multiple-choice prompt (accuracy, shape bias, change)."""
    neutral = models[models["family"] == FAMILIES["vqa"].title].set_index("model")
    out = search.copy()
    out["neutral_accuracy"] = out["model"].map(neutral["cue_accuracy"])
    out["neutral_shape_bias"] = out["model"].map(neutral["shape_bias"])
    out["delta_accuracy"] = out["accuracy"] - out["neutral_accuracy"]
    out["delta_shape_bias"] = out["shape_bias"] - out["neutral_shape_bias"]
    columns = ["model", "step", "accuracy", "shape_bias", "neutral_accuracy", "neutral_shape_bias"]
    return out[[*columns, "delta_accuracy", "delta_shape_bias", "instruction", "prompt"]]


def _range(model: str, part: pd.DataFrame, min_accuracy: float) -> dict:
    kept = part[part["accuracy"] >= min_accuracy]
    return {
        "model": model,
        "prompts": len(part),
        "neutral_accuracy": part["neutral_accuracy"].iloc[0] if part["model"].nunique() == 1 else np.nan,
        "neutral_shape_bias": part["neutral_shape_bias"].iloc[0] if part["model"].nunique() == 1 else np.nan,
        "shape_bias_min": part["shape_bias"].min(),
        "shape_bias_max": part["shape_bias"].max(),
        "accuracy_at_max": part.loc[part["shape_bias"].idxmax(), "accuracy"],
        "kept": len(kept),
        "kept_shape_bias_min": kept["shape_bias"].min(),
        "kept_shape_bias_max": kept["shape_bias"].max(),
    }


def steering_summary(steering: pd.DataFrame, min_accuracy: float = 0.5) -> pd.DataFrame:
    """Per searched model and over all (``model`` "all"): how far the prompts moved shape bias, over every
    prompt and over the prompts ("kept") whose cue accuracy is at least ``min_accuracy``: below it the model
    fails the task and its few cue decisions say little about a bias."""
    rows = [_range(m, part, min_accuracy) for m, part in steering.groupby("model", sort=True)]
    rows.append(_range("all", steering, min_accuracy))
    return pd.DataFrame(rows)


def human_shape_bias(data_root: str | os.PathLike[str] | None = None) -> float:
    """The human cue-conflict shape bias of model-vs-human, subjects pooled (``analysis.humans``); NaN when
    its raw data are not under the data root."""
    folder = resolve_data_root(data_root) / HUMAN_DATA / "cue-conflict"
    if not folder.is_dir():
        return float("nan")
    table = shape_bias_per_category(read_human_trials(folder))
    row = table[(table["observer"] == HUMANS) & (table["category"] == "all")]
    return float(row["shape_bias"].iloc[0])


def analyse_gavrikov2025(
    data: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    reps: int = 2000,
    min_accuracy: float = 0.5,
    progress: Callable[[Path], None] | None = None,
) -> Gavrikov2025Tables:
    """Every table of the reproduction from the released folder ``data`` (default ``<data root>/vlm-shapebias``),
    the cue-conflict stimuli and model-vs-human's human data under ``data_root``. ``progress(path)`` is called
    after each decisions file."""
    root = resolve_data_root(data_root)
    folder = released_dir(GAVRIKOV2025, data or (root / GAVRIKOV2025), (f"{RAW}/{SEARCH_FILE}",))
    models = model_table(folder / RAW, load_dataset("cue-conflict", root), seed=seed, reps=reps, progress=progress)
    steering = steering_table(read_prompt_search(folder / RAW / SEARCH_FILE), models)
    notes = []
    unmatched = sorted(set(steering.loc[steering["neutral_accuracy"].isna(), "model"]))
    if unmatched:
        notes.append(
            f"no released multiple-choice file for searched model(s) {', '.join(unmatched)}: no neutral values"
        )
    human = human_shape_bias(root)
    if np.isnan(human):
        notes.append(f"model-vs-human's raw data are not under {root / HUMAN_DATA}: no human value")
    return Gavrikov2025Tables(models, steering, steering_summary(steering, min_accuracy), human, notes)
