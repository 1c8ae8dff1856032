"""Penultimate ("pre-logits") features of any wrapped classifier: the input of the last linear layer that
produces the logits. For timm models this is ``forward_head(forward_features(x), pre_logits=True)`` (pooling
and head norm included; dropout is inactive in eval); for torchvision models the input of ``fc`` /
``classifier[-1]``; for converted TFLite graphs the input of the final fully-connected op."""

from __future__ import annotations

import torch
from torch import nn

from biasbench.core.errors import BiasbenchError
from biasbench.models.wrapper import Classifier


class PenultimateFeatures(nn.Module):
    """Wraps a :class:`Classifier` so its forward returns (N, D) pre-logits features instead of logits.

    Hooks record the input of every ``nn.Linear`` call; the last one whose output is the logits is the head.
    The wrapped classifier is not modified (hooks are removed after each call).
    """

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier
        self.name = classifier.name
        self.preprocess = classifier.preprocess

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, features = find_head(self.classifier, x)
        return features.flatten(1).float()


def find_head(classifier: Classifier, x: torch.Tensor) -> tuple[str, torch.Tensor]:
    """The qualified module name of ``classifier``'s head (the last ``nn.Linear`` call whose output is the
    logits) and its input on ``x``. Hooks are removed afterwards; the classifier is not modified."""
    calls: list[tuple[str, torch.Tensor, torch.Tensor]] = []

    def recorder(name: str):
        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            calls.append((name, inputs[0], output))

        return record

    handles = [
        m.register_forward_hook(recorder(name)) for name, m in classifier.named_modules() if isinstance(m, nn.Linear)
    ]
    try:
        logits = classifier(x)
    finally:
        for h in handles:
            h.remove()
    for name, features, output in reversed(calls):
        if output.shape == logits.shape and torch.equal(output, logits):
            return name, features
    raise BiasbenchError(
        f"model {classifier.name}: cannot find its classification head (no linear layer outputs the logits), so "
        "its penultimate features are undefined; the transfer probe needs a model with a linear head"
    )
