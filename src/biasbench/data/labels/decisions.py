"""Per-image cue-conflict decisions made elsewhere, read from a CSV and checked against the stimuli.

The format is the one Gavrikov et al. (ICLR 2025, ``paulgavrikov/vlm_shapebias``) released for zero-shot CLIP
models, ImageNet classifiers and vision-language models: one row per stimulus with

- ``image``: the stimulus, as its file stem ``<shape><i>-<texture><j>`` (a file name or a path ending in it is
  accepted too);
- ``pred_label``: the decision, one of the 16 categories; an empty cell or any other word (the study writes
  ``None`` for an answer that matched no option) is *no decision*: it matches neither cue;
- optionally ``pred_conf`` (a number; the study writes 1 where the model gave no score) and ``response`` (the raw
  answer). Other columns (timestamps, annotations) are ignored.

Labels are compared after stripping blanks and lower-casing (``" Dog"`` is ``dog``). Every problem of a file
(missing columns, unknown, missing or repeated stimuli, non-numeric confidences, no category at all) is named in
one :class:`~biasbench.core.errors.DecisionsError` before anything is computed.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from biasbench.core.errors import DecisionsError
from biasbench.data.datasets import IMAGE_SUFFIXES, Dataset
from biasbench.data.labels.categories16 import CATEGORIES16

REQUIRED_COLUMNS = ("image", "pred_label")
OPTIONAL_COLUMNS = ("pred_conf", "response")
NO_DECISION = -1  # the decision index of an answer that names no category
SHOWN = 5  # examples named per problem


@dataclass(frozen=True)
class Decisions:
    """A decisions file aligned with the stimuli: ``frame`` has one row per stimulus in the dataset's order with
    ``index``, ``file`` (relative to the dataset folder), ``label`` (shape category), ``texture``, ``decision``
    (category index, ``NO_DECISION`` for none) and, when the file has them, ``confidence`` and ``response``.
    ``other_labels`` counts the answers that name no category (an empty cell as ``""``)."""

    path: Path
    frame: pd.DataFrame
    other_labels: dict[str, int]
    ignored_columns: tuple[str, ...]

    @property
    def decision(self) -> np.ndarray:
        return self.frame["decision"].to_numpy(np.int64)

    @property
    def shape(self) -> np.ndarray:
        return self.frame["label"].to_numpy(np.int64)

    @property
    def texture(self) -> np.ndarray:
        return self.frame["texture"].to_numpy(np.int64)

    @property
    def n_no_decision(self) -> int:
        return int((self.decision == NO_DECISION).sum())


def stimulus_name(value: object) -> str:
    """The stimulus stem of an ``image`` cell: ``airplane1-bicycle2``, ``airplane1-bicycle2.png`` and
    ``airplane/airplane1-bicycle2.png`` all give ``airplane1-bicycle2``."""
    name = Path(str(value).strip()).name
    stem, suffix = os.path.splitext(name)
    return stem if suffix.lower() in IMAGE_SUFFIXES else name


def category_index(label: object) -> int:
    """Index of ``label`` among the 16 categories (blank- and case-insensitive), ``NO_DECISION`` otherwise."""
    text = "" if pd.isna(label) else str(label).strip().lower()
    return CATEGORIES16.index(text) if text in CATEGORIES16 else NO_DECISION


def _examples(items: list[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DecisionsError(f"no decisions file at {path}; pass the CSV with columns image,pred_label[,pred_conf]")
    try:
        return pd.read_csv(path, dtype={"image": str, "pred_label": str, "response": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DecisionsError(f"{path} is not a readable CSV ({e}); save it as UTF-8 CSV with a header row") from None


def _problems(raw: pd.DataFrame, names: pd.Series, stimuli: dict[str, int]) -> list[str]:
    problems = []
    counts = Counter(names)
    repeated = sorted(n for n, c in counts.items() if c > 1)
    if repeated:
        problems.append(
            f"{len(repeated)} stimuli appear in more than one row ({_examples(repeated)}); keep one answer per image"
        )
    unknown = sorted(set(names) - stimuli.keys())
    if unknown:
        example = next(iter(stimuli))
        problems.append(
            f"{len(unknown)} image names are not cue-conflict stimuli ({_examples(unknown)}); name each image by "
            f"its file stem <shape><i>-<texture><j>, e.g. {example!r}"
        )
    missing = sorted(set(stimuli) - counts.keys(), key=stimuli.get)
    if missing:
        problems.append(
            f"{len(missing)} of the {len(stimuli)} stimuli have no row ({_examples(missing)}); answer every image "
            "(an empty pred_label counts as no decision)"
        )
    if "pred_conf" in raw:
        conf = pd.to_numeric(raw["pred_conf"], errors="coerce")
        bad = raw.loc[conf.isna() & raw["pred_conf"].notna(), "pred_conf"].astype(str).unique().tolist()
        if bad:
            problems.append(
                f"pred_conf holds values that are not numbers ({_examples(bad)}); use a number or leave it empty"
            )
    if not (raw["pred_label"].map(category_index) != NO_DECISION).any():
        seen = raw["pred_label"].dropna().astype(str).unique().tolist()
        problems.append(
            "no pred_label names one of the 16 categories "
            f"({_examples(seen) if seen else 'all are empty'}); map each answer to one of {', '.join(CATEGORIES16)} "
            "(e.g. the letters A-P of the study's multiple-choice prompt to their categories)"
        )
    return problems


def read_decisions(path: str | os.PathLike[str], dataset: Dataset) -> Decisions:
    """Read and check a decisions CSV against the cue-conflict ``dataset``; see the module docstring."""
    path = Path(path)
    raw = _read_csv(path)
    absent = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if absent:
        raise DecisionsError(
            f"{path} lacks column(s) {', '.join(absent)} (found: {', '.join(map(str, raw.columns)) or 'none'}); "
            "a decisions file has one row per stimulus with columns image,pred_label[,pred_conf][,response]"
        )
    stimuli = {s.path.stem: i for i, s in enumerate(dataset.samples)}
    names = raw["image"].map(stimulus_name)
    problems = _problems(raw, names, stimuli)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise DecisionsError(f"{path} is not a valid cue-conflict decisions file:\n{listed}")
    order = names.map(stimuli).to_numpy()
    raw = raw.iloc[np.argsort(order)].reset_index(drop=True)
    samples = dataset.samples
    frame = pd.DataFrame(
        {
            "index": np.arange(len(samples)),
            "file": [str(s.path.relative_to(dataset.folder)) for s in samples],
            "label": [s.label for s in samples],
            "texture": [s.meta["texture"] for s in samples],
            "decision": raw["pred_label"].map(category_index).to_numpy(np.int64),
        }
    )
    if "pred_conf" in raw:
        frame["confidence"] = pd.to_numeric(raw["pred_conf"]).to_numpy(np.float64)
    if "response" in raw:
        frame["response"] = raw["response"].fillna("").astype(str).to_numpy()
    other = raw.loc[frame["decision"] == NO_DECISION, "pred_label"].fillna("").astype(str)
    ignored = tuple(str(c) for c in raw.columns if c not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))
    return Decisions(path, frame, dict(Counter(other).most_common()), ignored)
