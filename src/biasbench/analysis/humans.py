"""Models against humans on the model-vs-human 16-class experiments (Geirhos et al., NeurIPS 2021):
16-class accuracy, per-category shape bias (cue-conflict) and error consistency (Geirhos, Meding &
Wichmann, NeurIPS 2020), from the stored per-sample 16-class decisions (no model is re-run).

As model-vs-human computes them (``modelvshuman/plotting/analyses.py``, ``helper/plotting_helper.py``):

- trials are matched by image id, the file name after the last ``_`` of the human ``imagename``
  (``0002_s5n_s01_0_bird_00_bird2-clock3.png`` -> ``bird2-clock3.png``), which is the stimulus file name;
- a trial is correct when the response equals ``category`` (for cue-conflict the *shape* category);
  a human "na" response is wrong;
- error consistency of two observers: c_obs = fraction of trials where both are right or both wrong,
  p_i = accuracy, c_exp = p1 p2 + (1 - p1)(1 - p2), κ = (c_obs - c_exp) / (1 - c_exp) (κ = 1 when
  c_obs = 1); a model's κ is its mean over the human subjects; the human ceiling is the mean κ over
  all pairs of different subjects;
- shape bias per category: among trials whose shape differs from the texture, n_shape / (n_shape +
  n_texture) grouped by the shape category; humans pooled over subjects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from biasbench.analysis.selection import JobSelector
from biasbench.core.errors import DatasetError
from biasbench.core.paths import resolve_data_root
from biasbench.data.catalogue.texture_vs_shape import texture_of
from biasbench.data.labels.categories16 import CATEGORIES16
from biasbench.probes.outputs import unperturbed_rows
from biasbench.store.results import ResultsStore

HUMAN_DATA = "model-vs-human-raw-data/raw-data"
HUMANS = "humans"
# biasbench dataset -> (model-vs-human experiment folder, probe whose samples hold the 16-class decisions)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "cue-conflict": ("cue-conflict", "shape-bias"),
    "edge": ("edge", "accuracy"),
    "silhouette": ("silhouette", "accuracy"),
}
TRIAL_COLUMNS = ["observer", "image_id", "category", "response"]


@dataclass
class HumanComparison:
    """``summary``: per (dataset, observer) accuracy, shape bias and mean κ / c_obs / c_exp against the
    humans (observer ``humans`` = the human-vs-human ceiling); ``per_category``: cue-conflict shape bias
    per shape category; ``pairs``: every κ behind the means."""

    summary: pd.DataFrame
    per_category: pd.DataFrame
    pairs: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def image_id(imagename: str) -> str:
    """The stimulus file name inside a model-vs-human ``imagename`` (text after the last ``_``)."""
    return str(imagename).split("_")[-1]


def error_consistency(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, float, float]:
    """(c_obs, c_exp, κ) of two aligned boolean trial vectors (Geirhos et al., NeurIPS 2020)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if len(a) != len(b) or not len(a):
        raise ValueError(f"error consistency needs two equally long, non-empty trial vectors ({len(a)}, {len(b)})")
    p1, p2 = a.mean(), b.mean()
    observed = float((a == b).mean())
    expected = float(p1 * p2 + (1 - p1) * (1 - p2))
    kappa = 1.0 if observed == 1.0 else (observed - expected) / (1.0 - expected)
    return observed, expected, kappa


def read_human_trials(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """All subjects' trials of one experiment folder (``<exp>_subject-XX_session_1.csv``)."""
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise DatasetError(f"no human CSVs in {folder}; expected model-vs-human raw-data/<experiment>/*.csv")
    frames = []
    for path in files:
        frame = pd.read_csv(path)
        frame.columns = [c.lower() for c in frame.columns]  # some files write "Session"
        frames.append(frame)
    raw = pd.concat(frames, ignore_index=True)
    out = pd.DataFrame(
        {
            "observer": raw["subj"].astype(str),
            "image_id": raw["imagename"].map(image_id),
            "category": raw["category"].astype(str),
            "response": raw["object_response"].astype(str),
        }
    )
    return out[TRIAL_COLUMNS]


def read_model_trials(
    results_dir: str | os.PathLike[str], dataset: str, selector: JobSelector | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """16-class decisions per (model, image) stored by the probe of ``EXPERIMENTS[dataset]``; where a model
    has several such jobs, ``selector`` picks one by the analysis' rule (newest probe version, full dataset,
    default parameters; ``--prefer`` otherwise) and the choice is named in the notes."""
    _, probe = EXPERIMENTS[dataset]
    store = ResultsStore(results_dir)
    manifests = store.manifests_by_job()
    selector = selector or JobSelector(manifests)
    chosen_jobs, notes = selector.per_model(manifests, probe, dataset)
    frames = []
    for model, chosen in chosen_jobs.items():
        samples = store.samples(chosen.key)
        if samples.empty:
            continue
        samples = unperturbed_rows(samples)
        decision = samples["decision"] if "decision" in samples else samples["topk"].map(lambda t: t[0])
        frames.append(
            pd.DataFrame(
                {
                    "observer": model,
                    "image_id": samples["file"].map(lambda f: Path(f).name),
                    "category": samples["label"].map(lambda i: CATEGORIES16[int(i)]),
                    # an imported answer that named no category (decision -1) is wrong, like a human "na"
                    "response": decision.map(lambda i: CATEGORIES16[int(i)] if int(i) >= 0 else "na"),
                }
            )
        )
    trials = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=TRIAL_COLUMNS)
    return trials, notes


def shape_bias_per_category(trials: pd.DataFrame) -> pd.DataFrame:
    """Cue-conflict shape bias per (observer, shape category) and overall (category ``all``); humans
    pooled into observer ``humans`` as model-vs-human's matrix plot does."""
    frame = trials.copy()
    frame["texture"] = frame["image_id"].map(texture_of)
    frame = frame[frame["category"] != frame["texture"]]
    frame["shape_hit"], frame["texture_hit"] = (
        frame["response"] == frame["category"],
        frame["response"] == frame["texture"],
    )
    frame["observer"] = frame["observer"].where(~frame["observer"].str.startswith("subject-"), HUMANS)
    rows = []
    for (observer, category), part in [*frame.groupby(["observer", "category"]), *[
        ((o, "all"), p) for o, p in frame.groupby("observer")
    ]]:  # fmt: skip
        s, t = int(part["shape_hit"].sum()), int(part["texture_hit"].sum())
        rows.append({"observer": observer, "category": category, "n_shape": s, "n_texture": t,
                     "shape_bias": s / (s + t) if s + t else np.nan})  # fmt: skip
    return pd.DataFrame(rows)


def _aligned(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    merged = a.merge(b, on="image_id", suffixes=("_a", "_b"))
    return (
        (merged["response_a"] == merged["category_a"]).to_numpy(),
        (merged["response_b"] == merged["category_b"]).to_numpy(),
    )


def _summary_row(dataset: str, observer: str, trials: pd.DataFrame, pairs: pd.DataFrame, n_subjects: int) -> dict:
    return {
        "dataset": dataset,
        "observer": observer,
        "accuracy16": float((trials["response"] == trials["category"]).mean()),
        "kappa": pairs["kappa"].mean(),
        "c_obs": pairs["c_obs"].mean(),
        "c_exp": pairs["c_exp"].mean(),
        "n_trials": len(trials),
        "n_subjects": n_subjects,
    }


def compare(humans: pd.DataFrame, models: pd.DataFrame, dataset: str) -> HumanComparison:
    """Accuracy, error consistency against every human and (cue-conflict) shape bias per category."""
    notes: list[str] = []
    subjects = {s: part for s, part in humans.groupby("observer")}
    ids = set(humans["image_id"])
    matched = models["image_id"].isin(ids).groupby(models["observer"]).transform("any")
    for model in sorted(set(models.loc[~matched, "observer"])):  # e.g. generated or renamed stimuli
        notes.append(f"{model} on {dataset}: no stored decision is on an image the humans saw; left out.")
    models = models[matched]
    pairs = []
    for (s1, a), (s2, b) in combinations(subjects.items(), 2):
        pairs.append((dataset, s1, s2, *error_consistency(*_aligned(a, b))))
    for model, part in models.groupby("observer"):
        missing = ids - set(part["image_id"])
        if missing:
            notes.append(f"{model} on {dataset}: {len(missing)} of the humans' images have no stored decision; "
                         f"κ uses the {len(ids) - len(missing)} shared trials.")  # fmt: skip
        for subject, h in subjects.items():
            pairs.append((dataset, model, subject, *error_consistency(*_aligned(part, h))))
    pair_frame = pd.DataFrame(pairs, columns=["dataset", "observer", "subject", "c_obs", "c_exp", "kappa"])
    pair_frame["observer_kind"] = np.where(pair_frame["observer"].str.startswith("subject-"), HUMANS, "model")
    ceiling = pair_frame[pair_frame["observer_kind"] == HUMANS]
    rows = [_summary_row(dataset, HUMANS, humans, ceiling, len(subjects))]
    for model, part in models.groupby("observer"):
        rows.append(_summary_row(dataset, model, part, pair_frame[pair_frame["observer"] == model], len(subjects)))
    summary = pd.DataFrame(rows)
    per_category = pd.DataFrame()
    if dataset == "cue-conflict":
        per_category = shape_bias_per_category(pd.concat([humans, models], ignore_index=True))
        overall = per_category[per_category["category"] == "all"].set_index("observer")["shape_bias"]
        summary["shape_bias"] = summary["observer"].map(overall)
    return HumanComparison(summary, per_category, pair_frame, notes)


def human_shape_bias_per_category(data_root: str | os.PathLike[str] | None = None) -> pd.DataFrame | None:
    """The human observers' cue-conflict shape bias per shape category and overall (``shape_bias_per_category``
    of their trials alone), or None when the model-vs-human raw data are absent."""
    folder = resolve_data_root(data_root) / HUMAN_DATA / EXPERIMENTS["cue-conflict"][0]
    if not folder.is_dir():
        return None
    return shape_bias_per_category(read_human_trials(folder))


def compare_results(
    results_dir: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    selector: JobSelector | None = None,
) -> HumanComparison | None:
    """``compare`` for every experiment of ``EXPERIMENTS`` that ``results_dir`` holds decisions for; None
    when it holds none or the human data are absent (the reason goes into the returned notes otherwise).
    ``selector`` chooses among several jobs of one model (default: the rule of ``analysis.selection``)."""
    root = resolve_data_root(data_root) / HUMAN_DATA
    parts, notes = [], []
    for dataset, (experiment, _) in EXPERIMENTS.items():
        models, found = read_model_trials(results_dir, dataset, selector)
        notes += found
        if models.empty:
            continue
        if not (root / experiment).is_dir():
            notes.append(f"human data for {dataset} not found at {root / experiment}; skipped the comparison.")
            continue
        parts.append(compare(read_human_trials(root / experiment), models, dataset))
    if not parts:
        return None
    return HumanComparison(
        pd.concat([p.summary for p in parts], ignore_index=True),
        pd.concat([p.per_category for p in parts], ignore_index=True),
        pd.concat([p.pairs for p in parts], ignore_index=True),
        notes + [n for p in parts for n in p.notes],
    )


@dataclass(frozen=True)
class HumanData:
    """What the comparison with model-vs-human's observers reads (``analysis.pipeline.analyse(humans=...)``): the
    human trials under ``data_root`` (default: ``$BIASBENCH_DATA``) and the models' stored per-sample 16-class
    decisions in the results directory ``results``. Without ``results`` (a released study, which published no
    per-image decisions) only the humans' own cue-conflict shape bias per category."""

    results: str | os.PathLike[str] | None = None
    data_root: str | os.PathLike[str] | None = None

    def compare(self, selector: JobSelector | None = None) -> HumanComparison | None:
        """The models against the humans (``compare_results``; ``selector`` picks each model's job), or the humans
        alone without ``results``; None when there is nothing to compare."""
        if self.results is not None:
            return compare_results(self.results, self.data_root, selector)
        per_category = human_shape_bias_per_category(self.data_root)
        if per_category is None:
            note = "Shape bias per category: the model-vs-human raw data are not under the data root."
            return HumanComparison(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), [note])
        return HumanComparison(pd.DataFrame(), per_category, pd.DataFrame())
