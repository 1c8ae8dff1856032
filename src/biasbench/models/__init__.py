"""Model sources, the [0,1]-input wrapper, and zoo files. The sources register with ``@register_source`` in
their own modules; the source registry (``MODEL_SOURCES``) imports them on its first lookup."""

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
