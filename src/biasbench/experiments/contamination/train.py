"""Full-batch training of the toy network with ID/OOD metrics logged over training (spec A.2.1, A.3.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from biasbench.core.registry import Registry
from biasbench.experiments.contamination.data import FeatureData
from biasbench.experiments.contamination.network import TwoLayerNet, feature_projection_norms

# Losses on scores f and labels y in {+1, -1}, averaged over the batch.
LOSSES: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry(
    "loss",
    items={
        "logistic": lambda f, y: F.softplus(-y * f).mean(),
        "hinge": lambda f, y: F.relu(1.0 - y * f).mean(),
        "mse": lambda f, y: F.mse_loss(f, y),
    },
)

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry(
    "optimizer",
    items={
        "adamw": lambda params, lr, wd, momentum: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
        "adam": lambda params, lr, wd, momentum: torch.optim.Adam(params, lr=lr, weight_decay=wd),
        # Coupled L2 and heavy-ball momentum, as torch.optim.SGD does in the official code.
        "sgd": lambda params, lr, wd, momentum: torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd),
    },
)

METRICS: tuple[str, ...] = (
    "id_loss",
    "ood_loss",
    "id_acc",
    "ood_acc",
    "core_norm",
    "background_norm",
    "background_meandir",
)


@dataclass
class TrainLog:
    """Metrics at each logged step (step 0 is the initialisation)."""

    steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})

    def final(self, metric: str) -> float:
        """The metric's value at the last logged step."""
        return self.metrics[metric][-1]


def log_steps(steps: int, log_every: int) -> list[int]:
    """The steps at which metrics are logged: 0, every ``log_every`` steps, and the last one."""
    return sorted({0, steps, *range(log_every, steps + 1, log_every)})


def train_toy(
    net: TwoLayerNet,
    data: FeatureData,
    *,
    loss: str = "logistic",
    opt: str = "adamw",
    lr: float = 1e-3,
    wd: float = 1e-3,
    momentum: float = 0.9,
    steps: int = 20000,
    log_every: int = 1000,
    progress: bool = False,
    desc: str = "train",
) -> TrainLog:
    """Train ``net`` by full-batch gradient steps on the ID set, logging ID/OOD loss and accuracy and the
    core/background projection norms of the first layer at :func:`log_steps`."""
    loss_fn = LOSSES[loss]
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = OPTIMIZERS[opt](params, lr, wd, momentum)
    logged = set(log_steps(steps, log_every))
    log = TrainLog()
    _record(log, 0, net, data, loss_fn)
    for step in progress_steps(range(1, steps + 1), progress, desc):
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(data.x_id).squeeze(1), data.y).backward()
        optimizer.step()
        if step in logged:
            _record(log, step, net, data, loss_fn)
    return log


@torch.no_grad()
def _record(log: TrainLog, step: int, net: TwoLayerNet, data: FeatureData, loss_fn) -> None:
    values: dict[str, float] = {}
    for split, x in (("id", data.x_id), ("ood", data.x_ood)):
        scores = net(x).squeeze(1)
        values[f"{split}_loss"] = loss_fn(scores, data.y).item()
        values[f"{split}_acc"] = (torch.sign(scores) == data.y).float().mean().item()
    norms = feature_projection_norms(net.hidden.weight, data.vh, data.d_core)
    values |= {
        "core_norm": norms.core,
        "background_norm": norms.background,
        "background_meandir": norms.background_meandir,
    }
    log.steps.append(step)
    for name in METRICS:
        log.metrics[name].append(values[name])


def progress_steps(steps: Iterable[int], enabled: bool, desc: str) -> Iterable[int]:
    """``steps`` wrapped in a progress bar when ``enabled`` (the CLI), unchanged otherwise (tests)."""
    return tqdm(steps, desc=desc, disable=not enabled, leave=False, mininterval=0.5)
