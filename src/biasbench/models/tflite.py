"""``tflite:PATH`` models: quantized TFLite ImageNet classifiers converted into float, differentiable torch modules.

The flatbuffer is parsed with the ``tflite`` package (the TFLite schema compiled for Python). Every quantized
weight is dequantised (``scale * (q - zero_point)``, per tensor or per output channel), every operator becomes a
small torch module (convolutions are real ``nn.Conv2d``s, so probes that reset layers find them), and the graph
runs in float. Activations are *not* re-quantised, so outputs differ slightly from the integer interpreter;
top-1 agrees on all the coral test photos (see tests/models/test_tflite.py).

Conventions of the converted model:
- Input: the [0,1] RGB that every biasbench model takes; the input quantisation becomes the Classifier's
  mean/std (``float = scale * (255 x - zero_point)``, i.e. mean = zp/255, std = 1/(255 scale); about 0.5/0.5).
- Output: logits. A softmax that ends the graph (possibly followed by a QUANTIZE) is dropped, so the model
  returns the pre-softmax values. A 1001-way output (index 0 = "background", the TF-slim convention) is cut to
  the 1000 ImageNet classes.
- Preprocess: the model's own input size, crop_pct 0.875 (timm's rule: resize the shorter side to
  floor(size / 0.875), e.g. 182 for a 160 input), centre crop, bilinear; ``?crop_pct=`` overrides it.
- ``?quantize_activations=true`` rounds every activation to its integer grid (straight-through gradients) to
  follow the integer interpreter more closely; the default is the plain float graph.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from biasbench.core.downloads import expand_path
from biasbench.core.errors import BiasbenchError, ModelLoadError
from biasbench.core.fingerprint import digest, file_sha256
from biasbench.core.preprocessing import Preprocess
from biasbench.models.sources import ModelSource, ModelSpec, _triple, register_source
from biasbench.models.wrapper import Classifier

CONVERTER_VERSION = 1  # bump when the conversion changes numerically (part of the fingerprint)
QUANT_RANGES = {3: (0, 255), 9: (-128, 127), 7: (-32768, 32767)}  # integer activation types -> (qmin, qmax)

# tflite.TensorType codes -> numpy dtypes of the raw buffers
TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


def _tflite():
    try:
        import tflite
    except ImportError as e:
        raise ModelLoadError("tflite: models need the 'tflite' package: pip install 'biasbench[tflite]'") from e
    return tflite


@dataclass
class TensorInfo:
    """One tensor of the flatbuffer: NHWC shape, its constant data (dequantised) if it has any."""

    shape: tuple[int, ...]
    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dim: int
    type_code: int = 0
    data: np.ndarray | None = None

    @property
    def activation_grid(self) -> tuple[float, float, int, int] | None:
        """(scale, zero_point, qmin, qmax) of an integer activation tensor; None for float tensors."""
        if self.scale.size != 1 or self.type_code not in QUANT_RANGES:
            return None
        zp = float(self.zero_point[0]) if self.zero_point.size else 0.0
        return (float(self.scale[0]), zp, *QUANT_RANGES[self.type_code])


@dataclass
class OpInfo:
    name: str
    inputs: list[int]
    outputs: list[int]
    options: object | None = None
    extra: dict = field(default_factory=dict)


def _dequantize(raw: np.ndarray, t: TensorInfo) -> np.ndarray:
    """float = scale * (q - zero_point), with per-channel scales broadcast along the quantised dimension."""
    if raw.dtype in (np.float32, np.float16) or t.scale.size == 0:
        return raw.astype(np.float32)
    shape = [1] * raw.ndim
    if t.scale.size > 1:
        shape[t.quantized_dim] = -1
    scale = t.scale.reshape(shape).astype(np.float64)
    zp = t.zero_point.reshape(shape).astype(np.float64) if t.zero_point.size else 0.0
    return (scale * (raw.astype(np.float64) - zp)).astype(np.float32)


class TfliteFile:
    """The first subgraph of a .tflite file as plain tensors and operators."""

    def __init__(self, path: Path):
        tflite = _tflite()
        model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
        if model.SubgraphsLength() != 1:
            raise ModelLoadError(f"{path}: {model.SubgraphsLength()} subgraphs; only single-graph models convert")
        graph = model.Subgraphs(0)
        opnames = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.tensors = [self._tensor(model, graph.Tensors(i)) for i in range(graph.TensorsLength())]
        self.ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            # newer files keep small codes in the deprecated int8 field, large ones in BuiltinCode
            name = opnames.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            self.ops.append(OpInfo(name, list(op.InputsAsNumpy()), list(op.OutputsAsNumpy()), op.BuiltinOptions()))
        self.inputs = list(graph.InputsAsNumpy())
        self.outputs = list(graph.OutputsAsNumpy())
        self.path = path

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The NHWC shape of the image input, checked to be RGB."""
        shape = self.tensors[self.inputs[0]].shape
        if len(shape) != 4 or shape[3] != 3:
            raise ModelLoadError(f"{self.path}: input shape {shape} is not an NHWC RGB image")
        return shape

    @staticmethod
    def _tensor(model, t) -> TensorInfo:
        q = t.Quantization()
        info = TensorInfo(
            tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else (),
            q.ScaleAsNumpy() if q is not None and q.ScaleLength() else np.zeros(0),
            q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else np.zeros(0),
            q.QuantizedDimension() if q is not None else 0,
            t.Type(),
        )
        buf = model.Buffers(t.Buffer())
        if buf is not None and buf.DataLength():
            dtype = TENSOR_DTYPES.get(t.Type())
            if dtype is None:
                raise ModelLoadError(f"tensor {t.Name()!r} has unsupported type code {t.Type()}")
            raw = buf.DataAsNumpy().view(dtype).reshape(info.shape)
            info.data = raw if dtype in (np.int32, np.int64) and info.scale.size == 0 else _dequantize(raw, info)
        return info

    def options(self, op: OpInfo, cls_name: str):
        """The op's builtin options as the given tflite options class."""
        opts = getattr(_tflite(), cls_name)()
        opts.Init(op.options.Bytes, op.options.Pos)
        return opts


# ---- operator modules ----------------------------------------------------------------------------------

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


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation=(1, 1)) -> torch.Tensor:
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
            x = _pad_same(x, self.conv.kernel_size, self.conv.stride, self.conv.dilation)
        return FUSED_ACTIVATIONS[self.activation](self.conv(x))


class AvgPoolOp(nn.Module):
    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], same: bool, activation: int):
        super().__init__()
        self.kernel, self.stride, self.same, self.activation = kernel, stride, same, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same:
            return FUSED_ACTIVATIONS[self.activation](F.avg_pool2d(x, self.kernel, self.stride))
        # TF averages over the valid pixels only: divide by the pooled count of ones
        summed = F.avg_pool2d(_pad_same(x, self.kernel, self.stride), self.kernel, self.stride, divisor_override=1)
        ones = _pad_same(torch.ones_like(x[:1, :1]), self.kernel, self.stride)
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


# ---- operator registry: NAME -> builder(file, op) -> (module, activation input ids) ------------------------

OpBuilder = Callable[[TfliteFile, OpInfo], tuple[nn.Module, list[int]]]
OP_BUILDERS: dict[str, OpBuilder] = {}


def op_builder(*names: str) -> Callable[[OpBuilder], OpBuilder]:
    """Register a builder for one or more TFLite builtin operators."""

    def register(fn: OpBuilder) -> OpBuilder:
        for name in names:
            OP_BUILDERS[name] = fn
        return fn

    return register


def _bias(f: TfliteFile, op: OpInfo, channels: int) -> torch.Tensor:
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return torch.zeros(channels)
    t = f.tensors[op.inputs[2]]
    return torch.from_numpy(_dequantize(t.data, t) if t.data.dtype != np.float32 else t.data).float()


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
    return ConvOp(conv, o.Padding() == _tflite().Padding.SAME, o.FusedActivationFunction()), [op.inputs[0]]


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
    same = o.Padding() == _tflite().Padding.SAME
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


# ---- the converted graph ----------------------------------------------------------------------------------


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


@register_source
class TfliteSource(ModelSource):
    prefix = "tflite"
    summary = "a TFLite image classifier converted to a float torch module (${BIASBENCH_DATA} expands)"
    example = "tflite:${BIASBENCH_DATA}/coral-test-data/models/mobilenet_v2_1.0_224_quant.tflite"

    @staticmethod
    def _path(spec: ModelSpec) -> Path:
        path = expand_path(spec.ref)
        if not path.is_file():
            raise ModelLoadError(f"TFLite file {path} does not exist (from {spec.ref!r})")
        return path

    def load(self, spec: ModelSpec) -> Classifier:
        path = self._path(spec)
        try:
            converted = convert_tflite(path, spec.flag("quantize_activations", False))
        except (ValueError, IndexError, AttributeError) as e:  # malformed flatbuffers raise these
            raise ModelLoadError(f"cannot parse {path} as a TFLite model: {e}") from e
        mean, std = converted.mean, converted.std
        if "mean" in spec.options or "std" in spec.options:
            mean, std = _triple(spec.options.get("mean"), mean), _triple(spec.options.get("std"), std)
        return Classifier(
            converted.net,
            name=spec.text,
            mean=mean,
            std=std,
            preprocess=self._preprocess(spec, converted.input_size),
            fingerprint=self.fingerprint(spec),
            source={
                "tflite": str(path),
                "softmax_removed": converted.net.softmax_removed,
                "background_dropped": converted.net.drop_background,
            },
        )

    @staticmethod
    def _preprocess(spec: ModelSpec, input_size: tuple[int, int]) -> Preprocess:
        crop_pct = float(spec.options.get("crop_pct", 0.875))
        if not 0 < crop_pct <= 1:
            raise BiasbenchError(f"{spec.text}: crop_pct must be in (0, 1]")
        return Preprocess(input_size, crop_pct, "bilinear")

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        """From the input tensor's shape alone (planning does not convert the graph)."""
        path = self._path(spec)
        try:
            shape = TfliteFile(path).input_shape
        except (ValueError, IndexError, AttributeError) as e:
            raise ModelLoadError(f"cannot parse {path} as a TFLite model: {e}") from e
        return self._preprocess(spec, (shape[1], shape[2]))

    def fingerprint(self, spec: ModelSpec) -> str:
        return digest(["tflite", file_sha256(self._path(spec)), CONVERTER_VERSION, sorted(spec.options.items())])

    def cached(self, spec: ModelSpec) -> bool | None:
        return expand_path(spec.ref).is_file()
