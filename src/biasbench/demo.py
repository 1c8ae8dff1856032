"""``make demo``: a real mini-study on real pretrained models and real images, ending in a report.

    python -m biasbench.demo --out demo-results [--limit N]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

import biasbench
from biasbench.data.root import resolve_data_root
from biasbench.engine import EngineConfig
from biasbench.errors import BiasbenchError
from biasbench.models.zoo import load_zoo


@dataclass(frozen=True)
class DemoStep:
    """One block of the mini-study: probes, their datasets and parameters, and an image budget."""

    probes: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    limit: int | None = None


DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep(("accuracy",), ("imagenet-sample",)),
    DemoStep(("shape-bias",)),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-results", help="results directory")
    parser.add_argument("--data-root", default=None, help="data root (default: $BIASBENCH_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="cap every dataset at N images (quick look)")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    models = [entry.id for entry in load_zoo("demo").models]
    root = resolve_data_root(args.data_root)
    console.print(f"biasbench demo: {len(models)} real pretrained models, data root {root}")
    failed = 0
    try:
        for step in DEMO_STEPS:
            limit = min(filter(None, (step.limit, args.limit)), default=None)
            result = biasbench.run(
                models, list(step.probes), args.out, datasets=step.datasets, data_root=args.data_root,
                params=step.params, limit=limit, engine=EngineConfig(batch_size=args.batch_size),
                report=lambda m: console.print(m, highlight=False),
            )
            failed += len(result.summary.failed)
    except BiasbenchError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        return 2
    records = biasbench.load_results(args.out)
    headline = records[records["condition"].fillna("") == ""]
    table = headline.pivot_table(index="model", columns=["probe", "metric"], values="value", aggfunc="first")
    Console().print(table.round(4).to_string())
    console.print(f"records: {Path(args.out) / 'jobs'}; print them with `biasbench results {args.out}`")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
