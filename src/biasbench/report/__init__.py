"""The HTML report of an analysis (``html``) and the reproductions from the authors' released data
(``reproduce``): tables from ``biasbench.analysis``, figures from ``biasbench.plots``."""
