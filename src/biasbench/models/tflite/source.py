"""The ``tflite:PATH`` model source: a TFLite classifier converted by ``builder`` and wrapped as a Classifier."""

from __future__ import annotations

from pathlib import Path

from biasbench.core.downloads import expand_path
from biasbench.core.errors import BiasbenchError, ModelLoadError
from biasbench.core.fingerprint import digest, file_sha256
from biasbench.core.preprocessing import Preprocess
from biasbench.models.sources import ModelSource, ModelSpec, register_source
from biasbench.models.tflite.builder import CONVERTER_VERSION, convert_tflite
from biasbench.models.tflite.reader import TfliteFile
from biasbench.models.wrapper import Classifier


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
            mean, std = spec.triple("mean", mean), spec.triple("std", std)
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
