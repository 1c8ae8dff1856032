"""Model sources, the [0,1]-input wrapper, and zoo files."""

from biasbench.models import bundled as _bundled  # noqa: F401  (registers the bundled: source)
from biasbench.models.sources import MODEL_SOURCES, ModelSource, ModelSpec, load_model, model_fingerprint
from biasbench.models.wrapper import Classifier, Preprocess

__all__ = [
    "MODEL_SOURCES",
    "Classifier",
    "ModelSource",
    "ModelSpec",
    "Preprocess",
    "load_model",
    "model_fingerprint",
]
