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
from biasbench.analysis.humans import compare_results
from biasbench.analysis.pipeline import analyse
from biasbench.analysis.report import write_report
from biasbench.analysis.selection import JobSelector
from biasbench.data.root import resolve_data_root
from biasbench.engine import EngineConfig
from biasbench.errors import BiasbenchError
from biasbench.models.zoo import load_zoo, zoo_categories
from biasbench.store import ResultsStore


@dataclass(frozen=True)
class DemoStep:
    """One block of the mini-study: probes, their datasets and parameters, and an image budget."""

    probes: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    limit: int | None = None


# Sized for a CPU: the full sample and stimuli for accuracy and shape bias, small image budgets for the probes
# that evaluate many conditions per image (spectral 23, critical band 29, corruption 20, PGD 40 steps).
DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep(("accuracy", "calibration"), ("imagenet-sample",)),
    DemoStep(("shape-bias",)),
    DemoStep(("accuracy",), ("edge", "silhouette")),  # 16-class decisions for the comparison with humans
    DemoStep(("spectral",), ("imagenet-sample",), limit=32),
    DemoStep(("critical-band",), ("imagenet-sample",), limit=16),
    DemoStep(
        ("corruption",), ("imagenet-sample",), limit=16,
        params={"corruption": {"mode": "generated",
                               "corruptions": ["gaussian_noise", "defocus_blur", "contrast", "jpeg_compression"]}},
    ),
    DemoStep(("adversarial",), ("imagenet-sample",), limit=8),
    DemoStep(("criticality",), ("imagenet-sample",), params={"criticality": {"num_images": 8, "trials": 1}}),
    DemoStep(("si-score",), ("si-score-samples",), params={"si-score": {"variant": "size", "mini": True}}),
)


# One headline number per probe for the printed table (the report and `biasbench results` have them all).
HEADLINE = (
    ("accuracy", "top1"), ("calibration", "ece"), ("shape-bias", "shape_bias"), ("spectral", "low_freq_bias"),
    ("spectral", "high_freq_bias"), ("critical-band", "bandwidth"), ("critical-band", "center_frequency"),
    ("corruption", "mean_accuracy"), ("adversarial", "robust_accuracy"), ("criticality", "mean_criticality"),
    ("si-score", "mean_group_top1"), ("corruption", "mean_accuracy_subset"),
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
    keys = records["probe"] + "/" + records["metric"]
    wanted = [f"{probe}/{metric}" for probe, metric in HEADLINE]
    table = records[keys.isin(wanted)].assign(key=keys).pivot_table(
        index="model", columns="key", values="value", aggfunc="first"
    )
    Console(width=300).print(table[[k for k in wanted if k in table.columns]].round(3).to_string())
    selector = JobSelector(ResultsStore(args.out).manifests_by_job())  # one job per measurement
    analysis = analyse(records, zoo_categories(), n_boot=200, selector=selector)
    analysis.humans = compare_results(args.out, args.data_root)
    report = write_report(analysis, Path(args.out) / "report.html", title="biasbench demo: offline model zoo")
    console.print(f"report: {report}; records: `biasbench results {args.out}`")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
