"""Teacher–student analogue of the paper's CLIP distillation, at CPU scale (spec A.4.3).

The teacher sees only the core (``t(x) = ReLU(U · z_core(x))``), so it is exactly invariant to the
background and hence "OOD-robust". A ReLU student fits it by MSE on ID inputs only. If fitting a robust
representation on ID data transferred robustness, the student's error and linear probe would survive the
background shift; feature contamination predicts they do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from biasbench.core.rng import named_generator
from biasbench.experiments.contamination.configs import ContaminationConfig, DistillParams
from biasbench.experiments.contamination.data import make_feature_data
from biasbench.experiments.contamination.network import TwoLayerNet, feature_projection_norms
from biasbench.experiments.contamination.train import progress_steps

Features = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DistillResult:
    """Representation error (MSE / Var(teacher), on fresh test points) and ridge-probe accuracies."""

    repr_error_id: float
    repr_error_ood: float
    probe_teacher_id: float
    probe_teacher_ood: float
    probe_student_id: float
    probe_student_ood: float
    student_core_norm: float
    student_background_norm: float
    n_test: int


def distill_analogue(config: ContaminationConfig, seed: int, *, progress: bool = False) -> DistillResult:
    """Distil the core-only teacher into a ReLU student on the ID data of ``config``'s data model and
    evaluate both on a fresh ID test set and its background-shifted OOD twin."""
    params = config.distill or DistillParams()
    data_kw = {
        "d_core": config.d_core,
        "d_bg": config.d_bg,
        "d": config.d,
        "core": config.core,
        "bg_train": config.bg_train,
        "bg_test": config.bg_test,
    }
    train = make_feature_data(n=params.n_train, generator=named_generator(seed, "distill/train-data"), **data_kw)
    test = make_feature_data(
        n=params.n_test, generator=named_generator(seed, "distill/test-data"), vh=train.vh, **data_kw
    )
    teacher = _core_teacher(train.vh[: config.d_core], params.teacher_dim, named_generator(seed, "distill/teacher"))
    student = TwoLayerNet(
        config.d,
        params.student_width,
        "relu",
        out_dim=params.teacher_dim,
        generator=named_generator(seed, "distill/student-init"),
    )
    _fit(student, teacher, train.x_id, params, named_generator(seed, "distill/batches"), progress)

    with torch.no_grad():
        scale = teacher(test.x_id).var(dim=0).mean()  # the teacher ignores the background: same for OOD
        error = {s: (F.mse_loss(student(x), teacher(x)) / scale).item() for s, x in _splits(test)}
        probe: dict[str, dict[str, float]] = {}
        for name, feats in (("teacher", teacher), ("student", student)):
            accuracy = _ridge_probe(feats(train.x_id), train.y, params.probe_ridge)
            probe[name] = {s: accuracy(feats(x), test.y) for s, x in _splits(test)}
    norms = feature_projection_norms(student.hidden.weight, train.vh, config.d_core)
    return DistillResult(
        repr_error_id=error["id"],
        repr_error_ood=error["ood"],
        probe_teacher_id=probe["teacher"]["id"],
        probe_teacher_ood=probe["teacher"]["ood"],
        probe_student_id=probe["student"]["id"],
        probe_student_ood=probe["student"]["ood"],
        student_core_norm=norms.core,
        student_background_norm=norms.background,
        n_test=params.n_test,
    )


def _splits(data) -> tuple[tuple[str, torch.Tensor], ...]:
    return (("id", data.x_id), ("ood", data.x_ood))


def _core_teacher(core_dirs: torch.Tensor, out_dim: int, generator: torch.Generator) -> Features:
    # U ~ N(0, 1/d_core): a fixed random ReLU layer on the core coordinates only.
    mix = torch.randn(out_dim, core_dirs.shape[0], generator=generator) / core_dirs.shape[0] ** 0.5
    projection = core_dirs.T @ mix.T  # d × out_dim: x ↦ z_core ↦ U z_core
    return lambda x: F.relu(x @ projection)


def _fit(
    student: TwoLayerNet,
    teacher: Features,
    x: torch.Tensor,
    params: DistillParams,
    generator: torch.Generator,
    progress: bool,
) -> None:
    targets = teacher(x)
    optimizer = torch.optim.AdamW(student.parameters(), lr=params.lr, weight_decay=params.wd)
    for _ in progress_steps(range(params.steps), progress, "distill"):
        batch = torch.randint(0, x.shape[0], (params.batch_size,), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(student(x[batch]), targets[batch]).backward()
        optimizer.step()


def _ridge_probe(features: torch.Tensor, y: torch.Tensor, ridge: float) -> Callable[..., float]:
    """Fit a ridge regression on ±1 labels (standardised features, unpenalised bias); return its scorer."""
    feats = features.double()
    mean, std = feats.mean(dim=0), feats.std(dim=0) + 1e-8

    def design(f: torch.Tensor) -> torch.Tensor:
        z = (f.double() - mean) / std
        return torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], dim=1)

    z = design(feats)
    penalty = ridge * len(z) * torch.eye(z.shape[1], dtype=z.dtype)
    penalty[-1, -1] = 0.0
    weights = torch.linalg.solve(z.T @ z + penalty, z.T @ y.double())

    def accuracy(f: torch.Tensor, labels: torch.Tensor) -> float:
        return (torch.sign(design(f) @ weights) == labels.double()).double().mean().item()

    return accuracy
