"""Build the float torch graph of a TFLite file: one builder per operator, the wired ``TfliteNet``, and
``convert_tflite`` (which also reads the input quantisation as mean/std)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from biasbench.core.errors import ModelLoadError
from biasbench.core.registry import Registry
from biasbench.models.tflite.ops import (
    AddOp,
    AvgPoolOp,
    ConvOp,
    FakeQuant,
    GlobalAvgPoolOp,
    LinearOp,
    MeanOp,
    QuantizedOutput,
    ReshapeOp,
    SoftmaxOp,
)
from biasbench.models.tflite.reader import OpInfo, TensorInfo, TfliteFile, dequantize, import_tflite

CONVERTER_VERSION = 1  # bump when the conversion changes numerically (part of the fingerprint)


# ---- operator registry: NAME -> builder(file, op) -> (module, activation input ids) ------------------------

OpBuilder = Callable[[TfliteFile, OpInfo], tuple[nn.Module, list[int]]]
OP_BUILDERS: Registry[OpBuilder] = Registry("TFLite operator", packages=("biasbench.models.tflite",))


def op_builder(*names: str) -> Callable[[OpBuilder], OpBuilder]:
    """Register a builder for one or more TFLite builtin operators."""

    def register(fn: OpBuilder) -> OpBuilder:
        for name in names:
            OP_BUILDERS.register(name, fn)
        return fn

    return register


def _bias(f: TfliteFile, op: OpInfo, channels: int) -> torch.Tensor:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return torch.zeros(channels)
    t = f.tensors[op.inputs[2]]
    return torch.from_numpy(dequantize(t.data, t) if t.data.dtype != np.float32 else t.data).float()


@op_builder("CONV_2D", "DEPTHWISE_CONV_2D")
def _build_conv(f: TfliteFile, op: OpInfo):
    depthwise = op.name == "DEPTHWISE_CONV_2D"
    o = f.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
    w = torch.from_numpy(f.tensors[op.inputs[1]].data.copy())  # conv: [O,kh,kw,I]; depthwise: [1,kh,kw,C*m]
    in_ch = f.tensors[op.inputs[0]].shape[3]
    weight = w.permute(3, 0, 1, 2) if depthwise else w.permute(0, 3, 1, 2)  # -> [O, I/groups, kh, kw]
    conv = nn.Conv2d(
        in_ch,
        weight.shape[0],
        tuple(weight.shape[2:]),
        stride=(o.StrideH(), o.StrideW()),
        dilation=(o.DilationHFactor(), o.DilationWFactor()),
        groups=in_ch if depthwise else 1,
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(_bias(f, op, weight.shape[0]))
    return ConvOp(conv, o.Padding() == import_tflite().Padding.SAME, o.FusedActivationFunction()), [op.inputs[0]]


@op_builder("FULLY_CONNECTED")
def _build_fc(f: TfliteFile, op: OpInfo):
    o = f.options(op, "FullyConnectedOptions")
    w = torch.from_numpy(f.tensors[op.inputs[1]].data.copy())  # [O, I]
    linear = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        linear.weight.copy_(w)
        linear.bias.copy_(_bias(f, op, w.shape[0]))
    return LinearOp(linear, o.FusedActivationFunction()), [op.inputs[0]]


@op_builder("AVERAGE_POOL_2D")
def _build_avgpool(f: TfliteFile, op: OpInfo):
    o = f.options(op, "Pool2DOptions")
    kernel = (o.FilterHeight(), o.FilterWidth())
    _, height, width, _ = f.tensors[op.inputs[0]].shape
    if kernel == (height, width) and tuple(f.tensors[op.outputs[0]].shape[1:3]) == (1, 1):
        return GlobalAvgPoolOp(o.FusedActivationFunction()), [op.inputs[0]]
    same = o.Padding() == import_tflite().Padding.SAME
    module = AvgPoolOp(kernel, (o.StrideH(), o.StrideW()), same, o.FusedActivationFunction())
    return module, [op.inputs[0]]


@op_builder("ADD")
def _build_add(f: TfliteFile, op: OpInfo):
    return AddOp(f.options(op, "AddOptions").FusedActivationFunction()), op.inputs[:2]


@op_builder("MEAN")
def _build_mean(f: TfliteFile, op: OpInfo):
    axes = [int(a) for a in np.atleast_1d(f.tensors[op.inputs[1]].data)]
    return MeanOp(axes, bool(f.options(op, "ReducerOptions").KeepDims())), [op.inputs[0]]


@op_builder("RESHAPE")
def _build_reshape(f: TfliteFile, op: OpInfo):
    if len(op.inputs) > 1 and op.inputs[1] >= 0 and f.tensors[op.inputs[1]].data is not None:
        shape = list(f.tensors[op.inputs[1]].data)
    else:
        shape = list(f.options(op, "ReshapeOptions").NewShapeAsNumpy())
    return ReshapeOp(shape), [op.inputs[0]]


@op_builder("SOFTMAX")
def _build_softmax(f: TfliteFile, op: OpInfo):
    return SoftmaxOp(), [op.inputs[0]]


@op_builder("QUANTIZE", "DEQUANTIZE")
def _build_requantize(f: TfliteFile, op: OpInfo):
    return nn.Identity(), [op.inputs[0]]  # changing the integer encoding is a no-op in float


class TfliteNet(nn.Module):
    """The converted graph: NCHW float input (already normalised), logits out."""

    def __init__(self, f: TfliteFile, quantize_activations: bool = False):
        super().__init__()
        unsupported = sorted({op.name for op in f.ops} - set(OP_BUILDERS))
        if unsupported:
            raise ModelLoadError(
                f"TFLite operators not supported by the converter: {', '.join(unsupported)} "
                f"(supported: {', '.join(sorted(OP_BUILDERS))})"
            )
        built = [OP_BUILDERS[op.name](f, op) for op in f.ops]
        self.softmax_removed = self._drop_final_softmax(f, built)
        if quantize_activations:  # emulate the integer interpreter: every op output on its uint8/int8 grid
            built = [
                (self._quantized(module, f.tensors[op.outputs[0]]), ins)
                for (module, ins), op in zip(built, f.ops, strict=True)
            ]
        self.ops = nn.ModuleList(module for module, _ in built)
        self.wiring = [(ins, op.outputs[0]) for (_, ins), op in zip(built, f.ops, strict=True)]
        self.input_id, self.output_id = int(f.inputs[0]), int(f.outputs[0])
        self.num_raw_outputs = int(f.tensors[self.output_id].shape[-1])
        # TF-slim classifiers have a 1001st "background" class at index 0; biasbench speaks 1000-way ImageNet
        self.drop_background = self.num_raw_outputs == 1001

    @staticmethod
    def _quantized(module: nn.Module, out: TensorInfo) -> nn.Module:
        grid = out.activation_grid
        if grid is None or isinstance(module, nn.Identity):  # float tensors; identities change nothing
            return module
        return QuantizedOutput(module, FakeQuant(*grid))

    @staticmethod
    def _drop_final_softmax(f: TfliteFile, built: list[tuple[nn.Module, list[int]]]) -> bool:
        """Replace a softmax that (through requantisation only) produces the graph output by an identity."""
        target = f.outputs[0]
        for i in range(len(f.ops) - 1, -1, -1):
            op = f.ops[i]
            if op.outputs[0] != target:
                continue
            if op.name in ("QUANTIZE", "DEQUANTIZE"):
                target = op.inputs[0]
            elif op.name == "SOFTMAX":
                built[i] = (nn.Identity(), built[i][1])
                return True
            else:
                return False
        return False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_id: x}
        for module, (ins, out) in zip(self.ops, self.wiring, strict=True):
            values[out] = module(*(values[i] for i in ins))
        out = values[self.output_id].reshape(x.shape[0], -1)
        return out[:, 1:] if self.drop_background else out


@dataclass(frozen=True)
class ConvertedTflite:
    net: TfliteNet
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: tuple[int, int]
    seconds: float


def convert_tflite(path: Path, quantize_activations: bool = False) -> ConvertedTflite:
    """Convert a quantized (or float) TFLite image classifier into a float torch module.

    With ``quantize_activations`` every intermediate activation is rounded to its integer grid (straight-through
    gradients), which tracks the integer interpreter more closely than the plain float graph."""
    start = time.perf_counter()
    f = TfliteFile(path)
    inp = f.tensors[f.inputs[0]]
    _, height, width, _ = f.input_shape
    if inp.scale.size:
        # uint8 pixel q = 255 x; float = scale (q - zp) = (x - zp/255) / (1 / (255 scale))
        mean, std = float(inp.zero_point[0]) / 255.0, 1.0 / (255.0 * float(inp.scale[0]))
    else:
        mean, std = 0.0, 1.0  # a float model takes [0,1] as is; override with ?mean=&std=
    net = TfliteNet(f, quantize_activations).eval()
    return ConvertedTflite(net, (mean,) * 3, (std,) * 3, (height, width), time.perf_counter() - start)
