"""Every figure, drawn from records DataFrames (the store's long format) or from the analysis' tables: one module
per topic (``figures``: the analysis' scores, biases and comparisons; ``criticality``, ``frequency``,
``resolution``, ``object_factors`` (SI-SCORE), ``robustness_transfer``, ...)."""
