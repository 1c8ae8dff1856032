"""Analysis, numbers only: generalization scores, the correlation engine, informativeness, the joint prediction,
layer criticality, the human comparison and transfer tables, read from records. Figures are in
``biasbench.plots``, the HTML report in ``biasbench.report``."""
