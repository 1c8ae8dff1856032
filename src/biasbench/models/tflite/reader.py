"""Read a ``.tflite`` flatbuffer into plain tensors (dequantised constants) and operators."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biasbench.core.errors import ModelLoadError

QUANT_RANGES = {3: (0, 255), 9: (-128, 127), 7: (-32768, 32767)}  # integer activation types -> (qmin, qmax)

# tflite.TensorType codes -> numpy dtypes of the raw buffers
TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


def import_tflite():
    """The ``tflite`` package (the TFLite flatbuffer schema for Python), with install advice if it is missing."""
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
    """One operator: its builtin name, input and output tensor ids, and its (undecoded) options."""

    name: str
    inputs: list[int]
    outputs: list[int]
    options: object | None = None
    extra: dict = field(default_factory=dict)


def dequantize(raw: np.ndarray, t: TensorInfo) -> np.ndarray:
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
        tflite = import_tflite()
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
            info.data = raw if dtype in (np.int32, np.int64) and info.scale.size == 0 else dequantize(raw, info)
        return info

    def options(self, op: OpInfo, cls_name: str):
        """The op's builtin options as the given tflite options class."""
        opts = getattr(import_tflite(), cls_name)()
        opts.Init(op.options.Bytes, op.options.Pos)
        return opts
