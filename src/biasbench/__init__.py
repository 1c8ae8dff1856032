"""biasbench: measure the inductive biases of image classifiers and test whether they explain generalization."""

from biasbench.core.torchvision_shim import ensure_torchvision_importable
from biasbench.core.version import __version__

ensure_torchvision_importable()  # before anything imports torchvision (timm does)

from biasbench.api import Step, load_results, make_report, run, run_study  # noqa: E402  (after the shim)

__all__ = ["Step", "__version__", "load_results", "make_report", "run", "run_study"]
