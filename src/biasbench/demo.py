"""``make demo``: a real mini-study on real pretrained models and real images, ending in a report.

python -m biasbench.demo --out demo-results [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from rich.console import Console

import biasbench
from biasbench.analysis.context import CONTEXTS
from biasbench.analysis.pipeline import with_factor
from biasbench.api import RunResult, make_report
from biasbench.api import Step as DemoStep
from biasbench.core.errors import BiasbenchError
from biasbench.core.paths import resolve_data_root
from biasbench.engine import EngineConfig
from biasbench.models.zoo import load_zoo

# Sized for a 2-core CPU (one plan: each model loads once, each dataset decodes once per preprocessing, the
# clean pass is shared by accuracy and calibration): the full sample and stimuli for accuracy and shape bias,
# 64 images for the probes that evaluate many conditions per image (spectral at the 5 cut-offs its biases
# average, x2 filters; adaptive critical-band search; 4 cheap generated corruptions at severities 1/3/5, so the
# corruption numbers are a subset's mean accuracy, not mCE), and a 10-step PGD on 16 images.
DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep(("accuracy", "calibration"), ("imagenet-sample",)),
    DemoStep(("shape-bias",)),
    DemoStep(("accuracy",), ("edge", "silhouette")),  # 16-class decisions for the comparison with humans
    DemoStep(
        ("spectral",), ("imagenet-sample",), limit=64, params={"spectral": {"cutoffs": [0.1, 0.2, 0.3, 0.4, 0.5]}}
    ),
    DemoStep(("critical-band",), ("imagenet-sample",), limit=64, params={"critical-band": {"adaptive": True}}),
    DemoStep(
        ("corruption",),
        ("imagenet-sample",),
        limit=64,
        params={
            "corruption": {
                "mode": "generated",
                "severities": [1, 3, 5],
                "corruptions": ["gaussian_noise", "defocus_blur", "contrast", "jpeg_compression"],
            }
        },
    ),
    DemoStep(("adversarial",), ("imagenet-sample",), limit=16, params={"adversarial": {"steps": 10}}),
    DemoStep(("criticality",), ("imagenet-sample",), params={"criticality": {"num_images": 8, "trials": 1}}),
    # SI-SCORE's three factors on the 9 sample objects x 2 backgrounds: 4 sizes, a 5 x 5 grid of locations, 6 angles.
    *(
        DemoStep(("si-score",), ("si-score-samples",), params={"si-score": {"variant": variant, "mini": True}})
        for variant in ("size", "location", "rotation")
    ),
)


# The first demo: one EfficientNet and the smallest MobileNet, so it finishes while a newcomer watches (each model
# of the full zoo costs 1.5-8 min of a 2-core CPU at these budgets); `--full` runs all eight.
QUICK_MODELS = ("efficientnet_lite0", "mobilenet_v1_0.25_128_quant")

# One headline number per probe for the printed table (the report and `biasbench results` have them all).
HEADLINE = (
    ("accuracy", "top1"),
    ("calibration", "ece"),
    ("shape-bias", "shape_bias"),
    ("spectral", "low_freq_bias"),
    ("spectral", "high_freq_bias"),
    ("critical-band", "bandwidth"),
    ("critical-band", "center_frequency"),
    ("corruption", "mean_accuracy"),
    ("adversarial", "robust_accuracy"),
    ("criticality", "mean_criticality"),
    ("si-score", "mean_group_top1"),
    ("corruption", "mean_accuracy_subset"),
)


def step_times(steps: list[DemoStep], result: RunResult) -> list[tuple[str, int, int, float]]:
    """Per step: its probes, jobs run here, jobs skipped (already in the results), and seconds of its jobs."""
    seconds, skipped = result.summary.seconds, {j.key for j in result.summary.skipped}
    return [
        (
            "+".join(step.probes)
            + "".join(f" {p['variant']}" for p in step.params.values() if "variant" in p)
            + (f" ({step.limit} img)" if step.limit else ""),
            sum(j.key in seconds for j in jobs),
            sum(j.key in skipped for j in jobs),
            sum(seconds.get(j.key, 0.0) for j in jobs),
        )
        for step, jobs in zip(steps, result.step_jobs, strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-results", help="results directory")
    parser.add_argument("--data-root", default=None, help="data root (default: $BIASBENCH_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="cap every dataset at N images (quick look)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--no-cache", action="store_true", help="decode images per model (no decoded-image cache)")
    parser.add_argument("--full", action="store_true", help="all eight models of the demo zoo (~30 min on 2 cores)")
    parser.add_argument(
        "--context",
        default="gavrikov2024",
        choices=[*CONTEXTS, "none"],
        help="place the models among a released study's models in the report (default: the 48 ResNet-50s of "
        "Gavrikov & Keuper, CVPR 2024; none: the models alone)",
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    models = [entry.id for entry in load_zoo("demo").models] if args.full else list(QUICK_MODELS)
    root = resolve_data_root(args.data_root)
    console.print(f"biasbench demo: {len(models)} real pretrained models, data root {root}")
    steps = [replace(s, limit=min(filter(None, (s.limit, args.limit)), default=None)) for s in DEMO_STEPS]
    # One plan for the whole study: each model is loaded once and runs every step; each dataset is decoded once
    # per preprocessing into the cache; probes of one model share its clean forward passes.
    engine = EngineConfig(batch_size=args.batch_size, cache=not args.no_cache, channels_last=True)
    start = time.perf_counter()
    try:
        result = biasbench.run_study(
            models,
            steps,
            args.out,
            data_root=args.data_root,
            engine=engine,
            report=lambda m: console.print(m, highlight=False, soft_wrap=True),
        )
    except BiasbenchError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        return 2
    study = time.perf_counter() - start
    console.print("wall time per step (seconds of its jobs; model loads counted once, below):", highlight=False)
    for label, ran, skipped, seconds in step_times(steps, result):
        console.print(
            f"  {label:<34} {seconds:7.1f} s  ({ran} run, {skipped} done before)", highlight=False, soft_wrap=True
        )
    loads = result.summary.load_seconds
    console.print(f"  {'model loads':<34} {sum(loads.values()):7.1f} s  ({len(loads)} loads)", highlight=False)
    console.print(f"  {'study total':<34} {study:7.1f} s", highlight=False)
    records = biasbench.load_results(args.out)
    records = with_factor(records[(records["probe"] != "accuracy") | (records["dataset"] == "imagenet-sample")])
    keys = records["probe"] + "/" + records["metric"]
    # SI-SCORE's three variants each have a mean over their groups: one row per factor (area, location, rotation)
    keys = keys.where(records["probe"] != "si-score", keys + " (" + records["factor"] + ")")
    wanted = [
        key
        for probe, metric in HEADLINE
        for key in ([f"{probe}/{metric} ({f})" for f in ("area", "location", "rotation")] if probe == "si-score" else
                    [f"{probe}/{metric}"])
    ]  # fmt: skip
    table = (
        records[keys.isin(wanted)]
        .assign(key=keys)
        .pivot_table(index="key", columns="model", values="value", aggfunc="first", dropna=False)
    )
    table = table.reindex([k for k in wanted if k in table.index])  # one row per headline number
    Console(width=200).print(table.to_string(float_format=lambda v: f"{v:.4g}"), highlight=False)
    context = None if args.context == "none" else args.context
    try:
        report = make_report(args.out, context=context, data_root=args.data_root, n_boot=200,
                             title="biasbench demo: offline model zoo").path  # fmt: skip
    except BiasbenchError as e:  # e.g. the released study is not under the data root: the report without it
        console.print(f"[yellow]note:[/] no context ({e}); the report shows the models alone", highlight=False)
        report = make_report(
            args.out, data_root=args.data_root, n_boot=200, title="biasbench demo: offline model zoo"
        ).path
    console.print(f"report: {report}; records: `biasbench results {args.out}`")
    return 1 if result.summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
