"""Named configurations of the experiment (spec A.2.1, A.4.3): a registry, not an if/elif chain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from biasbench.core.registry import Registry


@dataclass(frozen=True)
class DistillParams:
    """The CPU teacher–student analogue (spec A.4.3): a ReLU student regresses a core-only teacher."""

    n_train: int = 4000
    n_test: int = 1000
    teacher_dim: int = 64
    student_width: int = 512
    steps: int = 6000
    batch_size: int = 256
    lr: float = 1e-3
    wd: float = 1e-4
    probe_ridge: float = 1e-3


DATA_FIELDS = ("n", "d_core", "d_bg", "d", "core", "bg_train", "bg_test")


@dataclass(frozen=True)
class ContaminationConfig:
    """Everything that defines one run of the toy besides the seed. Defaults are the official code's."""

    # data model (spec A.1.1)
    n: int = 1000
    d_core: int = 32
    d_bg: int = 32
    d: int = 256
    core: str = "radius"
    bg_train: str = "uniform"
    bg_test: str = "flipped"
    # network and training (spec A.2.1)
    width: int = 256
    act: str = "relu"
    freeze_head: bool = False
    loss: str = "logistic"
    opt: str = "adamw"
    lr: float = 1e-3
    wd: float = 1e-3
    momentum: float = 0.9
    steps: int = 20000
    log_every: int = 1000
    # None where the analogue would only repeat another config's run or is not a usable control
    distill: DistillParams | None = field(default_factory=DistillParams)
    summary: str = ""

    def params(self) -> dict[str, Any]:
        """The parameters that determine the results (for job keys and manifests)."""
        out = asdict(self)
        out.pop("summary")
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ContaminationConfig:
        """The config whose :meth:`params` are ``params`` (a job's parameters; without ``distill``, none)."""
        distill = params.get("distill")
        return cls(**{**params, "distill": None if distill is None else DistillParams(**distill)})

    def data_params(self) -> dict[str, Any]:
        """The parameters of the synthetic data model (spec A.1.1), which with the seed define the data."""
        return {name: getattr(self, name) for name in DATA_FIELDS}

    def with_overrides(self, **overrides: Any) -> ContaminationConfig:
        """A copy with some fields replaced; ``None`` values are ignored (handy for optional CLI flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_DEFAULT = ContaminationConfig(summary="official toy defaults: radius task, ReLU, logistic loss, AdamW")
# The README's theorem-matching setting: sign-aligned core, hinge loss, SGD+momentum, frozen ±1/m head.
_THEORY = _DEFAULT.with_overrides(
    core="sign", loss="hinge", opt="sgd", freeze_head=True, summary="theory setting (hinge, SGD, frozen head)"
)


def _activation_variant(act: str) -> ContaminationConfig:
    return replace(_DEFAULT, act=act, distill=None, summary=f"defaults with {act} activation")


CONFIGS: Registry[ContaminationConfig] = Registry(
    "contamination config",
    items={
        "default": _DEFAULT,
        "theory": _THEORY,
        # A linear student cannot fit the non-linear teacher (spec A.4.3), so no distillation here.
        "linear": replace(_THEORY, act="identity", distill=None, summary="control: theory setting, linear network"),
        "iid": replace(_DEFAULT, bg_test="uniform", summary="control: test background drawn like the training one"),
        "zero-mean": replace(_DEFAULT, bg_train="symmetric", summary="control: zero-mean U[-1,1] training background"),
        **{act: _activation_variant(act) for act in ("gelu", "tanh", "sigmoid", "leakyrelu")},
    },
)


def get_config(name: str) -> ContaminationConfig:
    """The registered configuration ``name`` (raises a user-facing error naming the known ones)."""
    return CONFIGS[name]
