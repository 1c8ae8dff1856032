"""What the analysis reads from records: generalization-score members (checked against the probes' declared
metrics) and the biases, which are the metrics the registered probes declare with ``role="bias"``.

Probes emit records with exactly these (probe, dataset, metric, condition) keys; the readers of released
data (``released.py``) convert the authors' CSVs into the same keys, so one code path serves both.
Accuracy records hold fractions in [0, 1]; scores are reported in percent (fraction x 100) as in
Gavrikov & Keuper (CVPR 2024), METHODS.md §5.3.

Canonical metric names always hold the correct value. Where the paper's published number is a different
quantity (ReaL top-1 over the last batch only, PGD robust accuracy over 50,048 instead of 50,000 images;
METHODS.md §5.1-5.2), the member names that metric in ``paper``; ``PAPER_SCORES`` reads those, and only
the reproduction of the paper uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

import pandas as pd

from biasbench.probes.accuracy import COMPAT_LAST_BATCH, TOP1
from biasbench.probes.adversarial import COMPAT_DENOMINATOR, ROBUST_ACCURACY
from biasbench.probes.base import declared, declared_metrics
from biasbench.probes.corruption import MEAN_ACCURACY
from biasbench.probes.critical_band import FIT_DEGENERATE as FIT_DEGENERATE
from biasbench.probes.critical_band import THRESHOLD
from biasbench.probes.criticality import CRITICALITY as CRITICALITY
from biasbench.probes.resolution import BEST_RESOLUTION as BEST_RESOLUTION
from biasbench.probes.resolution import RESOLUTION_TOP1 as RESOLUTION_TOP1
from biasbench.probes.shape_bias import SHAPE_BIAS as SHAPE_BIAS
from biasbench.probes.si_score import SI_SCORE_TOP1 as SI_SCORE_TOP1
from biasbench.probes.spectral import RATIO_TO_CLEAN
from biasbench.store.conditions import Attack, CorruptionSet
from biasbench.store.metrics import Metric, select

AT_CATEGORY = "adversarial_training"
# Condition of the study's attack (PGD-40 L-inf, eps = 0.5/255), as the adversarial probe names it.
PGD_LOW = str(Attack("pgd", "linf", "0.5/255"))
# Condition of the corruption probe's on-disk ImageNet-C / C-bar aggregates (the study's sets).
ONDISK = str(CorruptionSet("ondisk"))


@dataclass(frozen=True)
class Member:
    """One benchmark number a score averages: which records hold it (and, in ``paper``, the metric name of
    the paper's value where that differs from the correct one)."""

    probe: str
    dataset: str
    metric: str
    condition: str = ""
    paper: str = ""

    @classmethod
    def of(cls, metric: Metric, dataset: str, condition: str = "", paper: str = "") -> Member:
        """The member reading the declared score ``metric`` on ``dataset`` (its ``paper`` variant declared too)."""
        if metric.role != "score":
            raise ValueError(f"{metric.probe}/{metric.metric} is declared as a {metric.role}, not a score member")
        if paper:
            declared(metric.probe, paper)
        return cls(metric.probe, dataset, metric.metric, metric.condition or condition, paper)

    def rows(self, records: pd.DataFrame) -> pd.DataFrame:
        """The records that hold this member's number (its probe, dataset, metric and condition)."""
        return select(records, self.probe, self.metric, self.condition, self.dataset)

    @property
    def label(self) -> str:
        return f"{self.probe}/{self.dataset}/{self.metric}"

    def as_published(self) -> Member:
        """This member reading the paper's variant of the number (itself when there is none)."""
        return replace(self, metric=self.paper, paper="") if self.paper else self


@dataclass(frozen=True)
class ScoreSpec:
    """A generalization score: the unweighted mean of its members, x ``scale`` (fractions -> percent)."""

    name: str
    title: str
    members: tuple[Member, ...]
    scale: float = 100.0


def _top1(dataset: str) -> Member:
    return Member.of(TOP1, dataset)


IMAGENET_TOP1 = _top1("imagenet-val")
REAL_TOP1 = Member.of(TOP1, "imagenet-real", paper=COMPAT_LAST_BATCH)
PGD_ROBUST = Member.of(ROBUST_ACCURACY, "imagenet-val", PGD_LOW, paper=COMPAT_DENOMINATOR)

SCORES: tuple[ScoreSpec, ...] = (
    ScoreSpec("id", "ID", (IMAGENET_TOP1, _top1("imagenet-v2"), REAL_TOP1)),
    ScoreSpec(
        "robustness",
        "Robustness",
        (
            _top1("imagenet-a"),
            Member.of(MEAN_ACCURACY, "imagenet-c", ONDISK),
            Member.of(MEAN_ACCURACY, "imagenet-cbar", ONDISK),
        ),
    ),
    ScoreSpec("concepts", "Concepts", (_top1("imagenet-sketch"), _top1("imagenet-r"), _top1("stylized"))),
    ScoreSpec("adversarial", "Adversarial", (PGD_ROBUST,)),
)


def as_published(spec: ScoreSpec) -> ScoreSpec:
    """``spec`` with every member reading the paper's variant of its number."""
    return replace(spec, members=tuple(m.as_published() for m in spec.members))


# The scores as Gavrikov & Keuper (CVPR 2024) computed them, compat numbers included: only for reproducing
# the paper from its released benchmark.csv.
PAPER_SCORES: tuple[ScoreSpec, ...] = tuple(as_published(s) for s in SCORES)


@dataclass(frozen=True)
class OodSet:
    """A distribution shift whose accuracy is set against ImageNet top-1 (effective robustness): one member."""

    name: str
    title: str
    member: Member


def _score_member(dataset: str) -> Member:
    return next(m for s in SCORES for m in s.members if m.dataset == dataset)


# Every shifted test set the scores use (ImageNet val is the x axis; ReaL relabels the same images, so it is no
# shift), plus ObjectNet, which the accuracy probe measures.
OOD_SETS: tuple[OodSet, ...] = (
    OodSet("imagenet-v2", "ImageNet-V2", _score_member("imagenet-v2")),
    OodSet("imagenet-a", "ImageNet-A", _score_member("imagenet-a")),
    OodSet("imagenet-r", "ImageNet-R", _score_member("imagenet-r")),
    OodSet("imagenet-sketch", "ImageNet-Sketch", _score_member("imagenet-sketch")),
    OodSet("stylized", "Stylized-ImageNet", _score_member("stylized")),
    OodSet("imagenet-c", "ImageNet-C", _score_member("imagenet-c")),
    OodSet("imagenet-cbar", "ImageNet-C-bar", _score_member("imagenet-cbar")),
    OodSet("objectnet", "ObjectNet", _top1("objectnet")),
    OodSet("pgd", "PGD-40 L∞ 0.5/255", PGD_ROBUST),
)
# The same sets reading the paper's variant of each number (PGD over 50,048): only for the released data.
PAPER_OOD_SETS: tuple[OodSet, ...] = tuple(replace(o, member=o.member.as_published()) for o in OOD_SETS)


def biases() -> tuple[Metric, ...]:
    """Every bias the registered probes declare (``role="bias"``), in report order: the columns of the bias
    table, the correlations and the joint prediction. A probe registered later (a third-party one) is included
    from then on."""
    return declared_metrics("bias")


def bias_names() -> tuple[str, ...]:
    """The names (columns) of ``biases()``."""
    return tuple(b.name for b in biases())


# The curves with bespoke report sections and figures, by their declarations (the layers above read them here).
SPECTRAL_CURVE = RATIO_TO_CLEAN
CRITICAL_BAND_CURVE = THRESHOLD

SCORE_NAMES = tuple(s.name for s in SCORES)


class DeclaredText(Mapping[str, str]):
    """Text per score and bias name (a title, a noun, a unit), read from the declarations at each lookup, so a
    probe registered after import (a third-party one) is named too; ``extra`` adds other columns."""

    def __init__(
        self, bias: Callable[[Metric], str], score: Callable[[ScoreSpec], str], extra: Mapping[str, str] | None = None
    ):
        self.bias, self.score, self.extra = bias, score, dict(extra or {})

    def table(self) -> dict[str, str]:
        """The current name → text table."""
        return {s.name: self.score(s) for s in SCORES} | {b.name: self.bias(b) for b in biases()} | self.extra

    def __getitem__(self, name: str) -> str:
        return self.table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table())

    def __len__(self) -> int:
        return len(self.table())


TITLES = DeclaredText(lambda b: b.title, lambda s: s.title)
UNITS = DeclaredText(lambda b: b.unit, lambda s: "%", {"imagenet_top1": "%"})
