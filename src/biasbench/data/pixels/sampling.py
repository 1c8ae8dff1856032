"""``--limit N``: which N samples of a dataset a quick run evaluates.

``balanced`` (the default) draws a seeded sample spread as evenly as the dataset allows over its classes (and,
for a transfer task, over its train and test splits): the classes are visited in a seeded order, one sample of
each in turn (each class's samples in a seeded order), until N are drawn; so every class gets ⌊N/C⌋ or ⌈N/C⌉
samples while it has them, and the job's seed picks which. ``first`` takes the first N in canonical (sorted
path) order, the behaviour before balanced sampling: on a dataset stored class by class that is N images of the
first classes (N airplanes on cue-conflict). A dataset whose samples only make sense together declares
``DatasetSpec.limit_by_class = False`` (the frames of one video pm-k set) and is always cut ``first``.

Either way the sample keeps canonical order, so the feed, the per-sample tables and the decoded cache see a
dataset like any other. ``coverage`` says how many of the full dataset's classes a sample covers; a job
whose sample misses classes says so in every record (``Record.caveat``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, fields, replace

import torch

from biasbench.core.rng import named_generator
from biasbench.data.datasets import Dataset, Sample

LIMIT_MODES = ("balanced", "first")


def stratum(sample: Sample) -> Hashable:
    """What a balanced sample spreads over: the label, within the split where a dataset has splits."""
    return sample.meta.get("split"), sample.label


def balanced_indices(strata: Sequence[Hashable], n: int, seed: int, stream: str = "limit") -> list[int]:
    """``n`` indices spread evenly over ``strata`` (one stratum per item): strata in a seeded order take one
    item each per round, each stratum's items in a seeded order; returned sorted. Seeded by (seed, stream)."""
    groups: dict[Hashable, list[int]] = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    generator = named_generator(seed, stream)
    members = list(groups.values())
    order = torch.randperm(len(members), generator=generator).tolist()
    shuffled = [[members[g][k] for k in torch.randperm(len(members[g]), generator=generator).tolist()] for g in order]
    chosen: list[int] = []
    for round_ in range(max((len(m) for m in shuffled), default=0)):
        for items in shuffled:
            if round_ < len(items) and len(chosen) < n:
                chosen.append(items[round_])
    return sorted(chosen)


def effective_mode(dataset: Dataset, mode: str) -> str:
    """The mode a limit is applied in: ``first`` for datasets that keep their samples together."""
    return mode if dataset.spec.limit_by_class else "first"


@dataclass(frozen=True)
class Limited(Dataset):
    """A dataset cut by ``--limit``: the samples kept, the limit, the mode it was cut in, and the caveat its
    records carry when the cut misses classes of the full dataset (empty otherwise)."""

    limit: int = 0
    mode: str = "first"
    caveat: str = ""


def limited(dataset: Dataset, limit: int | None, mode: str = "balanced", seed: int = 0) -> Dataset:
    """``dataset`` cut to ``limit`` samples in ``mode`` (a :class:`Limited`), or ``dataset`` itself when
    ``limit`` is None or not smaller than it."""
    if limit is None or limit >= len(dataset):
        return dataset
    mode = effective_mode(dataset, mode)
    if mode == "first":
        cut = dataset.head(limit)
    else:
        keep = balanced_indices([stratum(s) for s in dataset.samples], limit, seed, f"limit/{dataset.name}")
        cut = replace(dataset, samples=tuple(dataset.samples[i] for i in keep))
    caveat = coverage_caveat(cut, dataset, limit, mode)
    # every field of the cut as it is (whatever a Dataset carries), plus what the limit adds
    return Limited(**{f.name: getattr(cut, f.name) for f in fields(Dataset)}, limit=limit, mode=mode, caveat=caveat)


def classes_of(dataset: Dataset) -> set[int]:
    """The classes (labels ≥ 0) a dataset's samples belong to."""
    return {s.label for s in dataset.samples if s.label >= 0}


def coverage_caveat(sample: Dataset, full: Dataset, limit: int | None, mode: str) -> str:
    """Empty when ``sample`` covers every class of ``full``; otherwise the sentence every record of a job on
    ``sample`` carries, e.g. "rests on 1 of the 16 classes of cue-conflict (--limit 16, first)"."""
    covered, total = len(classes_of(sample)), len(classes_of(full))
    if covered >= total:
        return ""
    return f"rests on {covered} of the {total} classes of {full.name} (--limit {limit}, {mode})"
