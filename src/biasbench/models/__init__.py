"""Model sources, the [0,1]-input wrapper, and zoo files."""

from biasbench.models import bundled as _bundled  # noqa: F401  (registers the bundled: source)
from biasbench.models import tflite as _tflite  # noqa: F401  (registers the tflite: source)
from biasbench.models import zoo_source as _zoo_source  # noqa: F401  (registers the zoo: source)
from biasbench.models.sources import MODEL_SOURCES, ModelSource, ModelSpec, load_model, model_fingerprint
from biasbench.models.wrapper import Classifier

__all__ = [
    "MODEL_SOURCES",
    "Classifier",
    "ModelSource",
    "ModelSpec",
    "load_model",
    "model_fingerprint",
]
