"""The one table of what the analysis reads from records: generalization-score members and bias metrics.

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

from dataclasses import dataclass, replace

from biasbench.probes.accuracy import COMPAT_LAST_BATCH
from biasbench.probes.adversarial import COMPAT_DENOMINATOR
from biasbench.store.conditions import Attack, CorruptionSet

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
    return Member("accuracy", dataset, "top1")


IMAGENET_TOP1 = _top1("imagenet-val")
REAL_TOP1 = Member("accuracy", "imagenet-real", "top1", paper=COMPAT_LAST_BATCH)
PGD_ROBUST = Member("adversarial", "imagenet-val", "robust_accuracy", PGD_LOW, paper=COMPAT_DENOMINATOR)

SCORES: tuple[ScoreSpec, ...] = (
    ScoreSpec("id", "ID", (IMAGENET_TOP1, _top1("imagenet-v2"), REAL_TOP1)),
    ScoreSpec(
        "robustness",
        "Robustness",
        (
            _top1("imagenet-a"),
            Member("corruption", "imagenet-c", "mean_accuracy", ONDISK),
            Member("corruption", "imagenet-cbar", "mean_accuracy", ONDISK),
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


@dataclass(frozen=True)
class BiasSpec:
    """A scalar bias: the ``metric`` record (at ``condition``) of ``probe``, from any dataset. The probes
    compute the biases themselves (e.g. spectral's low_freq_bias over its ``bias_cutoffs``)."""

    name: str
    title: str
    unit: str
    probe: str
    metric: str
    condition: str = ""
    noun: str = ""  # the bias in running text ("low-frequency bias")


BIASES: tuple[BiasSpec, ...] = (
    BiasSpec("shape_bias", "Shape bias", "fraction", "shape-bias", "shape_bias", noun="shape bias"),
    BiasSpec("low_freq_bias", "Low-freq. bias (LPP)", "ratio", "spectral", "low_freq_bias", noun="low-frequency bias"),
    BiasSpec(
        "high_freq_bias", "High-freq. bias (HPP)", "ratio", "spectral", "high_freq_bias", noun="high-frequency bias"
    ),
    BiasSpec("bandwidth", "Critical band: bandwidth", "octaves", "critical-band", "bandwidth", noun="bandwidth"),
    BiasSpec(
        "center_frequency",
        "Critical band: center freq.",
        "cycles/img",
        "critical-band",
        "center_frequency",
        noun="centre frequency",
    ),  # fmt: skip
    BiasSpec(
        "peak_noise_sensitivity",
        "Critical band: peak noise sens.",
        "1/SD",
        "critical-band",
        "peak_noise_sensitivity",
        noun="peak noise sensitivity",
    ),  # fmt: skip
)

# Curves shown in the report (probe, metric).
SPECTRAL_CURVE = ("spectral", "ratio_to_clean")
CRITICAL_BAND_CURVE = ("critical-band", "threshold")
CRITICALITY = ("criticality", "criticality")

SCORE_NAMES = tuple(s.name for s in SCORES)
BIAS_NAMES = tuple(b.name for b in BIASES)
