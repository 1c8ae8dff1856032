"""biasbench: measure the inductive biases of image classifiers and test whether they explain generalization."""

from biasbench.models.torchvision_shim import ensure_torchvision_importable

ensure_torchvision_importable()  # before anything imports torchvision (timm does)

__version__ = "0.1.0"
