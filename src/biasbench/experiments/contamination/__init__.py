"""Feature contamination (Zhang et al., ICML 2024) on the structured-feature toy model.

Non-linear networks trained by gradient descent grow weights along *background* directions that carry no
information about the label, because ReLU-type units become asymmetrically activated; when the background
shifts at test time the loss degrades. A linear network does not do this. See
``docs/CONTAMINATION_AND_META.md`` part A for the specification reproduced here.
"""

from biasbench.experiments.contamination.configs import CONFIGS, ContaminationConfig, get_config
from biasbench.experiments.contamination.data import FeatureData, make_feature_data
from biasbench.experiments.contamination.distill import DistillResult, distill_analogue
from biasbench.experiments.contamination.network import TwoLayerNet, feature_projection_norms
from biasbench.experiments.contamination.run import run_contamination
from biasbench.experiments.contamination.train import TrainLog, train_toy

__all__ = [
    "CONFIGS",
    "ContaminationConfig",
    "DistillResult",
    "FeatureData",
    "TrainLog",
    "TwoLayerNet",
    "distill_analogue",
    "feature_projection_norms",
    "get_config",
    "make_feature_data",
    "run_contamination",
    "train_toy",
]
