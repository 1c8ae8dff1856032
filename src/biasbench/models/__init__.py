"""Model sources, the [0,1]-input wrapper, and zoo files."""

# Importing a source module registers its sources, in this order (the order `biasbench models` lists them).
# isort: off
from biasbench.models import timm_source as _timm_source  # noqa: F401  (timm:, hf-hub:)
from biasbench.models import torchvision_source as _torchvision_source  # noqa: F401  (torchvision:)
from biasbench.models import file_source as _file_source  # noqa: F401  (file:)
from biasbench.models import bundled as _bundled  # noqa: F401  (bundled:)
from biasbench.models import tflite as _tflite  # noqa: F401  (tflite:)
from biasbench.models import zoo_source as _zoo_source  # noqa: F401  (zoo:)
from biasbench.models import openclip_source as _openclip_source  # noqa: F401  (openclip:)

# isort: on
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
