"""Full fine-tuning (VTAB-1k's own protocol): a copy of the classifier with a fresh linear head, every
parameter trained with SGD + momentum on the task's labelled examples.

The schedule follows ``google-research/task_adaptation`` (``scripts/run_all_tasks.sh`` + ``trainer.py``):
batch 64, SGD momentum 0.9, no weight decay, initial learning rate 0.01, a linear warm-up from 0 over the
first 8% of the steps (80 of 1000), then the rate divided by 10 after 30%, 60% and 90% of the steps
(300/600/900 of 1000). Inputs are the model's own evaluation preprocessing, with no augmentation (VTAB-1k
resizes only). Training runs in fp32; BatchNorm layers are in train mode (batch statistics, running
averages updated) as usual for fine-tuning; dropout / drop-path are active and seeded.

Determinism: the head's initialisation and dropout use the global torch RNG inside ``torch.random.fork_rng``
seeded with the job seed (the caller's RNG state is restored), the batch order a seeded ``torch.Generator``.
On the CPU the result is bitwise reproducible; on CUDA up to cuDNN's non-deterministic backward kernels.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from biasbench.adaptation.features import find_head
from biasbench.adaptation.linear import holdout_split
from biasbench.models.wrapper import Classifier

WARMUP_FRACTION = 0.08  # task_adaptation: 80 warm-up steps of 1000
DECAY_AT = (0.3, 0.6, 0.9)  # task_adaptation: decay_steps 300,600,900 of 1000
DECAY_FACTOR = 0.1


@dataclass(frozen=True)
class FinetuneConfig:
    """Optimisation settings of one fine-tuning run (defaults: task_adaptation's VTAB script)."""

    steps: int = 1000
    batch_size: int = 64
    momentum: float = 0.9
    seed: int = 0


def lr_factor(step: int, steps: int) -> float:
    """Multiplier of the initial learning rate at ``step`` (0-based): linear warm-up from 0 over the first
    ``WARMUP_FRACTION`` of the steps, then divided by ``1/DECAY_FACTOR`` at each of ``DECAY_AT``."""
    warmup = round(WARMUP_FRACTION * steps)
    if step < warmup:
        return step / warmup
    return DECAY_FACTOR ** sum(step >= round(f * steps) for f in DECAY_AT)


def with_new_head(model: Classifier, num_classes: int, sample: torch.Tensor) -> tuple[Classifier, str]:
    """A deep copy of ``model`` (on ``sample``'s device) whose head, the last linear layer producing the
    logits (found on ``sample`` as :func:`find_head` does), is a fresh ``nn.Linear(in_features, num_classes)``
    initialised from the current torch RNG. Returns the copy and the head's qualified name."""
    net = copy.deepcopy(model).to(sample.device).eval()
    with torch.no_grad():
        name, _ = find_head(net, sample)
    old = net.get_submodule(name)
    parent, _, leaf = name.rpartition(".")
    head = nn.Linear(old.in_features, num_classes, device=sample.device)
    setattr(net.get_submodule(parent), leaf, head)
    return net, name


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batches of ``batch_size`` positions: seeded permutations of ``range(n)`` back to back (every
    batch full, as a repeated, shuffled, batched stream)."""
    size = min(batch_size, n)
    pending = torch.empty(0, dtype=torch.long)
    while True:
        while len(pending) < size:
            pending = torch.cat([pending, torch.randperm(n, generator=generator)])
        yield pending[:size]
        pending = pending[size:]


def finetune(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    lr: float,
    config: FinetuneConfig,
    device: torch.device,
) -> Classifier:
    """Fine-tune a copy of ``model`` (``model`` itself is never modified) on uint8 ``images`` (N, 3, H, W) with
    integer ``labels`` in ``[0, num_classes)``; returns the copy in eval mode on ``device``."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        net, _ = with_new_head(model, num_classes, _pixels(images[:2], device))
        net.train()
        optimiser = torch.optim.SGD(net.parameters(), lr=lr, momentum=config.momentum)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: lr_factor(step, config.steps))
        order = _batches(len(images), config.batch_size, torch.Generator().manual_seed(config.seed))
        for _ in range(config.steps):
            idx = next(order)
            loss = F.cross_entropy(net(_pixels(images[idx], device)), labels[idx].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    return net.eval()


@torch.no_grad()
def predict(model: Classifier, images: torch.Tensor, device: torch.device, batch_size: int = 64) -> np.ndarray:
    """Arg-max class of each uint8 image under ``model`` (eval mode)."""
    chunks = [
        model(_pixels(images[i : i + batch_size], device)).argmax(1).cpu() for i in range(0, len(images), batch_size)
    ]
    return torch.cat(chunks).numpy()


def select_lr(
    model: Classifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    learning_rates: tuple[float, ...],
    config: FinetuneConfig,
    device: torch.device,
    *,
    val_fraction: float = 0.2,
) -> tuple[float, dict[float, float]]:
    """The learning rate to fine-tune with: the only one given, or the one with the best top-1 on a seeded
    held-out ``val_fraction`` after fine-tuning on the rest (the split :func:`select_and_fit` uses for alpha;
    ties go to the smaller rate). Also returns the validation accuracy per rate (empty for a single rate)."""
    if len(learning_rates) == 1:
        return float(learning_rates[0]), {}
    fit, val = (torch.from_numpy(i) for i in holdout_split(len(labels), val_fraction, config.seed, "the learning rate"))
    scores = {}
    for lr in sorted(learning_rates):
        tuned = finetune(model, images[fit], labels[fit], num_classes, lr, config, device)
        scores[float(lr)] = float(
            np.mean(predict(tuned, images[val], device, config.batch_size) == labels[val].numpy())
        )
    return max(scores, key=lambda lr: scores[lr]), scores


def _pixels(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    return images.to(device).float().div_(255.0)
