"""Every figure, drawn from records DataFrames (the store's long format) or from the analysis' tables: one module
per topic (``figures``: the analysis' scores, biases and comparisons; ``criticality``, ``frequency``,
``resolution``, ``si_score``, ``transfer``)."""
