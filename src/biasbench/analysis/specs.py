"""The one table of what the analysis reads from records: generalization-score members and bias metrics.

Probes emit records with exactly these (probe, dataset, metric, condition) keys; the readers of released
data (``released.py``) convert the authors' CSVs into the same keys, so one code path serves both.
Accuracy records hold fractions in [0, 1]; scores are reported in percent (fraction x 100) as in
Gavrikov & Keuper (CVPR 2024), METHODS.md §5.3.
"""

from __future__ import annotations

from dataclasses import dataclass

# Spectral cut-offs that enter LPP/HPP (METHODS §3.3); conditions are "lowpass/<c>" / "highpass/<c>".
SPECTRAL_CUTOFFS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
AT_CATEGORY = "adversarial_training"


@dataclass(frozen=True)
class Member:
    """One benchmark number a score averages: which records hold it."""

    probe: str
    dataset: str
    metric: str
    condition: str = ""

    @property
    def label(self) -> str:
        return f"{self.probe}/{self.dataset}/{self.metric}"


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

SCORES: tuple[ScoreSpec, ...] = (
    ScoreSpec("id", "ID", (IMAGENET_TOP1, _top1("imagenet-v2"), _top1("imagenet-real"))),
    ScoreSpec(
        "robustness",
        "Robustness",
        (
            _top1("imagenet-a"),
            Member("corruption", "imagenet-c", "mean_accuracy"),
            Member("corruption", "imagenet-cbar", "mean_accuracy"),
        ),
    ),
    ScoreSpec("concepts", "Concepts", (_top1("imagenet-sketch"), _top1("imagenet-r"), _top1("stylized"))),
    ScoreSpec("adversarial", "Adversarial", (Member("adversarial", "imagenet-val", "robust_accuracy"),)),
)


@dataclass(frozen=True)
class BiasSpec:
    """A scalar bias: the mean of ``metric`` over ``conditions`` of ``probe`` records (any dataset)."""

    name: str
    title: str
    unit: str
    probe: str
    metric: str
    conditions: tuple[str, ...] = ("",)


def _spectral(kind: str) -> tuple[str, ...]:
    return tuple(f"{kind}/{c:g}" for c in SPECTRAL_CUTOFFS)


BIASES: tuple[BiasSpec, ...] = (
    BiasSpec("shape_bias", "Shape bias", "fraction", "shape-bias", "shape_bias"),
    BiasSpec("low_freq_bias", "Low-freq. bias (LPP)", "ratio", "spectral", "ratio_to_clean", _spectral("lowpass")),
    BiasSpec(
        "high_freq_bias",
        "High-freq. bias (HPP)",
        "ratio",
        "spectral",
        "ratio_to_clean",
        _spectral("highpass"),
    ),
    BiasSpec("bandwidth", "Critical band: bandwidth", "octaves", "critical-band", "bandwidth"),
    BiasSpec("center_frequency", "Critical band: center freq.", "cycles/img", "critical-band", "center_frequency"),
    BiasSpec(
        "peak_noise_sensitivity",
        "Critical band: peak noise sens.",
        "1/SD",
        "critical-band",
        "peak_noise_sensitivity",
    ),
)

# Curves shown in the report (probe, metric, condition prefix).
SPECTRAL_CURVE = ("spectral", "ratio_to_clean")
CRITICAL_BAND_CURVE = ("critical-band", "threshold", "band/")
CRITICALITY = ("criticality", "criticality")

SCORE_NAMES = tuple(s.name for s in SCORES)
BIAS_NAMES = tuple(b.name for b in BIASES)
