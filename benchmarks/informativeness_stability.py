"""How stable is the informativeness bootstrap? Monte-Carlo error of ``boot_fraction_gain_positive`` and of the
gain's CI bounds on the released 48 ResNet-50s of Gavrikov & Keuper, from ``--seeds`` runs of ``--small``
resamples each (their spread is the Monte-Carlo standard error at ``--small``; divided by sqrt(seeds) it is the
error of their pooled ``small × seeds`` resamples), next to one run at ``--large``.

    BIASBENCH_DATA=/path/to/data python benchmarks/informativeness_stability.py --seeds 20 --small 50 --large 1000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from biasbench.analysis.context import gavrikov2024_analysis
from biasbench.analysis.informativeness import category_informativeness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--large", type=int, default=1000)
    args = parser.parse_args()
    a = gavrikov2024_analysis(n_boot=0, n_perm=0, methods=("spearman",))
    table = a.scores.join(a.biases)
    start = time.process_time()
    runs = pd.concat(
        category_informativeness(table, a.categories, args.small, seed).set_index("features").assign(seed=seed)
        for seed in range(args.seeds)
    )
    small_seconds = (time.process_time() - start) / args.seeds
    start = time.process_time()
    large = category_informativeness(table, a.categories, args.large, 0).set_index("features")
    large_seconds = time.process_time() - start
    g = runs.groupby(level=0)
    share = "boot_fraction_gain_positive"
    out = pd.DataFrame({
        f"share (mean of {args.seeds} x {args.small})": g[share].mean(),
        f"MC SE at {args.small}": g[share].std(ddof=1),
        f"MC SE at {args.small * args.seeds}": g[share].std(ddof=1) / np.sqrt(args.seeds),
        f"CI low SD at {args.small}": g["gain_ci_low"].std(ddof=1),
        f"CI high SD at {args.small}": g["gain_ci_high"].std(ddof=1),
        f"share at {args.large}": large[share],
        f"CI at {args.large}": [f"{lo:+.3f} .. {hi:+.3f}" for lo, hi in zip(large["gain_ci_low"], large["gain_ci_high"],
                                                                          strict=True)],
    }).dropna()  # fmt: skip
    print(out.round(4).to_string())
    print(f"binomial bound of the MC SE at {args.large}: {np.sqrt(0.25 / args.large):.4f}")
    print(f"CPU seconds: {small_seconds:.1f} per {args.small}-resample run, {large_seconds:.1f} for {args.large}")


if __name__ == "__main__":
    main()
