"""The operators of a converted TFLite graph as small torch modules (NCHW float, TF padding rules)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

FUSED_ACTIVATIONS: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {
    0: lambda x: x,
    1: F.relu,
    2: lambda x: x.clamp(-1.0, 1.0),
    3: F.relu6,
    4: torch.tanh,
}


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of one spatial dimension: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation=(1, 1)) -> torch.Tensor:
    """Pad an NCHW tensor as TF's 'SAME' padding does before a window of ``kernel`` at ``stride``."""
    top, bottom = same_padding(x.shape[-2], kernel[0], stride[0], dilation[0])
    left, right = same_padding(x.shape[-1], kernel[1], stride[1], dilation[1])
    return F.pad(x, (left, right, top, bottom)) if top or bottom or left or right else x


class ConvOp(nn.Module):
    """CONV_2D / DEPTHWISE_CONV_2D with TF padding and a fused activation."""

    def __init__(self, conv: nn.Conv2d, same: bool, activation: int):
        super().__init__()
        self.conv, self.same, self.activation = conv, same, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            x = pad_same(x, self.conv.kernel_size, self.conv.stride, self.conv.dilation)
        return FUSED_ACTIVATIONS[self.activation](self.conv(x))


class AvgPoolOp(nn.Module):
    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], same: bool, activation: int):
        super().__init__()
        self.kernel, self.stride, self.same, self.activation = kernel, stride, same, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same:
            return FUSED_ACTIVATIONS[self.activation](F.avg_pool2d(x, self.kernel, self.stride))
        # TF averages over the valid pixels only: divide by the pooled count of ones
        summed = F.avg_pool2d(pad_same(x, self.kernel, self.stride), self.kernel, self.stride, divisor_override=1)
        ones = pad_same(torch.ones_like(x[:1, :1]), self.kernel, self.stride)
        count = F.avg_pool2d(ones, self.kernel, self.stride, divisor_override=1)
        return FUSED_ACTIVATIONS[self.activation](summed / count)


class GlobalAvgPoolOp(nn.Module):
    """An AVERAGE_POOL_2D whose window covers the whole feature map (MobileNet's head): pooled adaptively, so
    the converted model accepts any input size like a native torch CNN (e.g. 224 px cue-conflict stimuli)."""

    def __init__(self, activation: int):
        super().__init__()
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return FUSED_ACTIVATIONS[self.activation](F.adaptive_avg_pool2d(x, 1))


class AddOp(nn.Module):
    def __init__(self, activation: int):
        super().__init__()
        self.activation = activation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return FUSED_ACTIVATIONS[self.activation](a + b)


class MeanOp(nn.Module):
    """MEAN over NHWC axes, mapped onto the NCHW layout the converted graph keeps."""

    NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}

    def __init__(self, axes: list[int], keep_dims: bool):
        super().__init__()
        self.dims, self.keep_dims = sorted(self.NHWC_TO_NCHW[a % 4] for a in axes), keep_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dims, keepdim=self.keep_dims)


class ReshapeOp(nn.Module):
    """RESHAPE with TF (NHWC) element order; the batch dimension follows the input."""

    def __init__(self, shape: list[int]):
        super().__init__()
        self.shape = [int(s) for s in shape]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.permute(0, 2, 3, 1)
        out = x.reshape(x.shape[0], *self.shape[1:])
        return out.permute(0, 3, 1, 2) if out.ndim == 4 else out


class LinearOp(nn.Module):
    def __init__(self, linear: nn.Linear, activation: int):
        super().__init__()
        self.linear, self.activation = linear, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.permute(0, 2, 3, 1)
        return FUSED_ACTIVATIONS[self.activation](self.linear(x.reshape(x.shape[0], -1)))


class FakeQuant(nn.Module):
    """Round an activation to its integer grid as the TFLite interpreter does; gradients pass straight through."""

    def __init__(self, scale: float, zero_point: float, qmin: int, qmax: int):
        super().__init__()
        self.scale, self.zero_point, self.qmin, self.qmax = scale, zero_point, qmin, qmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.clamp(torch.round(x / self.scale) + self.zero_point, self.qmin, self.qmax)
        return x + ((q - self.zero_point) * self.scale - x).detach()


class QuantizedOutput(nn.Module):
    """An operator followed by fake quantisation of its output."""

    def __init__(self, op: nn.Module, quant: FakeQuant):
        super().__init__()
        self.op, self.quant = op, quant

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.quant(self.op(*inputs))


class SoftmaxOp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)
