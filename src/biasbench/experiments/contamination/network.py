"""The two-layer network of the toy (spec A.2.1) and the feature-projection metric (spec A.3.1)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from biasbench.core.registry import Registry

ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry(
    "activation",
    items={
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "leakyrelu": lambda: nn.LeakyReLU(0.1),
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "identity": nn.Identity,  # a linear network
    },
)


class TwoLayerNet(nn.Module):
    """``Linear(d→width) → act → Linear(width→out_dim)`` with PyTorch's default init drawn from ``generator``.

    With ``freeze_head`` (the theory setting) the output weights are +1/width for the first half of the units
    and −1/width for the rest, and the head (weights and bias) is not trained; the bias keeps its init.
    """

    def __init__(
        self,
        d: int,
        width: int = 256,
        act: str = "relu",
        *,
        out_dim: int = 1,
        freeze_head: bool = False,
        generator: torch.Generator,
    ):
        super().__init__()
        # skip_init + explicit uniform draws: the usual nn.Linear init would consume the global RNG.
        self.hidden = nn.utils.skip_init(nn.Linear, d, width)
        self.act = ACTIVATIONS[act]()
        self.head = nn.utils.skip_init(nn.Linear, width, out_dim)
        for layer in (self.hidden, self.head):
            _default_init(layer, generator)
        if freeze_head:
            with torch.no_grad():
                self.head.weight.copy_(_split_signs(width, out_dim))
            self.head.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.hidden(x)))


def _default_init(layer: nn.Linear, generator: torch.Generator) -> None:
    # The distribution of nn.Linear.reset_parameters: weights and bias ~ U(±1/sqrt(fan_in)).
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)


def _split_signs(width: int, out_dim: int) -> torch.Tensor:
    half = width // 2
    signs = torch.cat([torch.ones(half), -torch.ones(width - half)]) / width
    return signs.expand(out_dim, width).clone()


@dataclass(frozen=True)
class ProjectionNorms:
    """First-layer weights seen in feature coordinates, averaged over hidden units."""

    core: float  # mean_k ||W_k projected on the core directions||
    background: float  # mean_k ||W_k projected on the background directions||
    background_meandir: float  # mean_k |<W_k, background mean direction 1/sqrt(d_bg)>|


def feature_projection_norms(weight: torch.Tensor, vh: torch.Tensor, d_core: int) -> ProjectionNorms:
    """Projections of first-layer ``weight`` (width × d) on the core and background rows of ``vh``.

    At PyTorch's default init (width 256, d 256) both norms are ≈ sqrt(32/768) ≈ 0.204.
    """
    feats = weight.detach() @ vh.T  # width × (d_core + d_bg)
    core, bg = feats[:, :d_core], feats[:, d_core:]
    meandir = bg.sum(dim=1).abs() / math.sqrt(bg.shape[1])
    return ProjectionNorms(
        core=core.norm(dim=1).mean().item(),
        background=bg.norm(dim=1).mean().item(),
        background_meandir=meandir.mean().item(),
    )
