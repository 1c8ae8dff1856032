"""Pipeline benchmark: prints, in one run, ratios that say where biasbench's time goes.

1. Efficiency: end-to-end forward images/s of each probe's job (decode, transfer, perturb, forward, reduce,
   write) as a fraction of the model's pure forward images/s on the same batches (target >= 0.9 on CPU for
   ``accuracy``). Probes with many conditions forward each image several times; the rate counts every
   forwarded image.
2. Cache: the same job for a second model over the same dataset with the decode-once cache warm, against the
   first (which builds the entry) and against no cache; and raw batch rates (decode vs cache read).
3. Scaling: the same plan on the local executor and on Ray with 2 workers.
4. Memory: peak RSS of this process (and of its loader workers) after each part.

Usage: python benchmarks/pipeline_bench.py [--count 128] [--batch-size 32] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from biasbench.core.paths import resolve_data_root
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.pixels.images import ImageTransform
from biasbench.engine import Engine, EngineConfig
from biasbench.models import load_model
from biasbench.probes import PROBES
from biasbench.probes.outputs import feed_of
from biasbench.run.execute import execute_job
from biasbench.run.executors import get_executor
from biasbench.run.plan import ModelRef, build_probes, plan_jobs
from biasbench.store.results import ResultsStore

OPTIONAL_PROBES = ("spectral", "critical-band", "corruption")
# Keep multi-condition probes to a few minutes on CPU (corruption: one generated corruption, 5 severities).
PROBE_PARAMS = {"corruption": {"mode": "generated", "corruptions": ["gaussian_noise"]}}


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident set size of this process and of its largest finished child (Linux reports KiB; a forked
    loader worker counts the parent's pages it shares, so it reads about as large as the parent)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def rss_line(label: str) -> str:
    own, children = peak_rss_mb()
    return f"  peak RSS after {label}: {own:.0f} MiB (largest child process {children:.0f} MiB)"


def forward_rate(engine: Engine, model, dataset, transform: ImageTransform) -> float:
    """Pure forward images/s on the engine's own batches, decoded beforehand (untimed)."""
    batches = [b.images for b in engine.batches(feed_of(engine, dataset, transform))]
    model = engine.prepare(model)
    with torch.no_grad():
        engine.logits(model, batches[0])  # warm-up
        t0 = time.perf_counter()
        for x in batches:
            engine.logits(model, x)
    return sum(len(x) for x in batches) / (time.perf_counter() - t0)


class ForwardCounter:
    """Counts the images a model forwards (every condition of a probe is a forward pass)."""

    def __init__(self, model):
        self.images = 0
        self.handle = model.register_forward_pre_hook(self._count)

    def _count(self, module, args):
        self.images += args[0].shape[0]


JobTiming = tuple[str, str, int, int, float]


def timed_jobs(refs, probe_names, root, count, engine, out: Path, loaded: dict) -> list[JobTiming]:
    """Plan and execute jobs one by one; (model, probe, dataset images, forwarded images, seconds) each."""
    probes = build_probes(probe_names, {p: v for p, v in PROBE_PARAMS.items() if p in probe_names})
    jobs, datasets = plan_jobs(refs, probes, ["imagenet-sample"], data_root=root, limit=count)
    store = ResultsStore(out)
    rows = []
    for job in jobs:
        model = loaded[job.model]
        counter = ForwardCounter(model)
        t0 = time.perf_counter()
        execute_job(job, model, datasets[(job.dataset, job.limit)], engine, store)
        seconds = time.perf_counter() - t0
        counter.handle.remove()
        rows.append((job.model, job.probe, job.limit or 0, counter.images, seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bundled:efficientnet_lite0")
    parser.add_argument("--count", type=int, default=128, help="images for accuracy, cache and scaling")
    parser.add_argument("--probe-count", type=int, default=32, help="images for the multi-condition probes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = resolve_data_root(args.data_root)
    cache_dir = Path(tempfile.mkdtemp(prefix="biasbench-bench-cache-"))
    out = Path(tempfile.mkdtemp(prefix="biasbench-bench-out-"))
    base = dict(device="cpu", batch_size=args.batch_size, progress=False)
    plain, cached = Engine(EngineConfig(**base)), Engine(EngineConfig(**base, cache=True, cache_dir=str(cache_dir)))
    model = load_model(args.model)
    dataset = get_dataset_spec("imagenet-sample").load(root).head(args.count)
    transform = ImageTransform(dataset.spec.resize_policy, model.preprocess)
    print(
        f"biasbench pipeline benchmark: {args.model}, {args.count} imagenet-sample images, batch "
        f"{args.batch_size}, {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}"
    )

    print("\n[1] pipeline efficiency (forwarded images/s ÷ pure forward images/s)")
    pure = forward_rate(plain, model, dataset, transform)
    print(f"  pure forward: {pure:.1f} img/s")
    print(rss_line("pure forward (holds the decoded batches)"))
    probes = ["accuracy", *[p for p in OPTIONAL_PROBES if p in PROBES]]
    missing = [p for p in OPTIONAL_PROBES if p not in PROBES]
    print(f"  {'probe':<14}{'images':>7}{'fwd/img':>9}{'uncached':>11}{'eff':>7}{'cached':>11}{'eff':>7}")
    for probe in probes:
        count = args.count if probe == "accuracy" else args.probe_count
        rates = []
        for name, engine in (("plain", plain), ("cached", cached)):
            refs = [ModelRef(f"{name}-{probe}", spec=args.model)]
            if name == "cached":  # build the entry first: this row measures a warm cache
                next(
                    engine.batches(
                        feed_of(engine, get_dataset_spec("imagenet-sample").load(root).head(count), transform)
                    )
                )
            ((_, _, n, forwarded, seconds),) = timed_jobs(
                refs, [probe], root, count, engine, out / name, {refs[0].name: model}
            )
            rates.append(forwarded / seconds)
        print(
            f"  {probe:<14}{n:>7}{forwarded / n:>9.0f}{rates[0]:>9.1f}/s{rates[0] / pure:>7.2f}"
            f"{rates[1]:>9.1f}/s{rates[1] / pure:>7.2f}"
        )
    if missing:
        print(f"  not registered (skipped): {', '.join(missing)}")
    print(rss_line("the probes"))

    print("\n[2] decode-once cache (accuracy job, same dataset and preprocessing)")
    fresh = Engine(EngineConfig(**base, cache=True, cache_dir=tempfile.mkdtemp(prefix="biasbench-bench-cold-")))
    refs = [ModelRef("first", spec=args.model), ModelRef("second", spec=args.model)]
    loaded = {"first": model, "second": model}
    ((*_, uncached_s),) = timed_jobs(refs[:1], ["accuracy"], root, args.count, plain, out / "c0", loaded)
    first, second = timed_jobs(refs, ["accuracy"], root, args.count, fresh, out / "c1", loaded)
    print(
        f"  no cache: {uncached_s:.2f} s | first model (builds the cache): {first[4]:.2f} s | "
        f"second model (warm): {second[4]:.2f} s"
    )
    print(f"  second/first = {second[4] / first[4]:.2f}, second/no-cache = {second[4] / uncached_s:.2f}")
    t0 = time.perf_counter()
    sum(len(b.indices) for b in plain.batches(feed_of(plain, dataset, transform)))
    decode = args.count / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    sum(len(b.indices) for b in fresh.batches(feed_of(fresh, dataset, transform)))
    read = args.count / (time.perf_counter() - t0)
    print(f"  batches without a model: decode {decode:.0f} img/s, cache read {read:.0f} img/s ({read / decode:.0f}x)")
    print(rss_line("the cache runs"))

    if not args.no_ray:
        scaling(args, root, out)


def scaling(args, root: Path, out: Path) -> None:
    """Same plan (2 models x accuracy) on the local executor and on Ray with 2 workers."""
    try:
        import ray
    except ImportError:
        print("\n[3] scaling: Ray not installed (pip install 'biasbench[ray]'), skipped")
        return
    print("\n[3] scaling (2 model names x accuracy, local vs Ray with 2 one-CPU workers)")
    engine = Engine(EngineConfig(device="cpu", batch_size=args.batch_size, progress=False, num_workers=0))
    refs = [ModelRef(f"scale-{i}", spec=args.model) for i in range(2)]
    probes = build_probes(["accuracy"], {})
    quiet = lambda message: None  # noqa: E731
    times = {}
    for name in ("local", "ray"):
        jobs, datasets = plan_jobs(refs, probes, ["imagenet-sample"], data_root=root, limit=args.count)
        t0 = time.perf_counter()
        if name == "ray":
            ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
            startup = time.perf_counter() - t0
            t0 = time.perf_counter()
        summary = get_executor(name)(jobs, refs, datasets, engine, ResultsStore(out / name), report=quiet)
        times[name] = time.perf_counter() - t0
        assert summary.ok and len(summary.finished) == 2, summary.failed
    ray.shutdown()
    print(
        f"  local: {times['local']:.1f} s | ray: {times['ray']:.1f} s (+ {startup:.1f} s cluster start) | "
        f"speed-up {times['local'] / times['ray']:.2f}x on {os.cpu_count()} shared core(s)"
    )
    print(rss_line("scaling (driver only; Ray workers are separate processes)"))


if __name__ == "__main__":
    sys.exit(main())
