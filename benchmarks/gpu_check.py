"""GPU check: one run that says whether biasbench's GPU paths agree with the CPU and how fast its probes are.

For each model (default: EfficientNet-Lite0 and a converted TFLite MobileNet V2) on the first ``--count`` images
of imagenet-sample (default all 1000):

1. fp32 on ``--device`` vs ``--compare-device`` (CPU): top-1 identical on >= 99.9 % of images, max |Δ logit| small
   (TF32 is switched off for this comparison);
2. AMP and channels-last vs fp32 on the device: top-1 agreement >= 99.5 %, shape bias (cue-conflict) within 0.01;
3. perturbations made on the device vs on the compare device, same images and indices, max |Δ| <= 1e-5: the
   spectral filters, critical-band stimuli, every registered generated corruption (severity 3), and the first PGD
   step (compared as the fraction of pixels that differ, since sign(∇) flips where the gradient is ~0);
4. images/s of the pure forward pass and of each probe's job (accuracy, spectral, critical-band, corruption,
   adversarial) on ``--probe-count`` images, as a ratio to the pure forward rate.

Prints one summary table and exits 1 on any disagreement (2 on a setup error). On a machine without a GPU,
``--device cpu --dry-run`` runs the same logic CPU against CPU on a few images (tests/benchmarks use it).

    python benchmarks/gpu_check.py                       # on a CUDA machine, ~5 min on one GPU
    python benchmarks/gpu_check.py --device cpu --dry-run --models 'timm:test_resnet?pretrained=false'
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from biasbench.core.errors import BiasbenchError
from biasbench.core.paths import resolve_data_root
from biasbench.data.datasets import Dataset, get_dataset_spec
from biasbench.data.pixels.images import ImageTransform
from biasbench.engine import Engine, EngineConfig
from biasbench.models import load_model
from biasbench.models.wrapper import Classifier
from biasbench.probes.base import ProbeContext, get_probe
from biasbench.probes.outputs import feed_of

DEFAULT_MODELS = (
    "bundled:efficientnet_lite0",
    "tflite:${BIASBENCH_DATA}/coral-test-data/models/mobilenet_v2_1.0_224_quant.tflite",
)
TOP1_FP32, TOP1_FAST, SHAPE_BIAS_TOL, STIMULUS_TOL, LOGIT_TOL, PGD_FLIP_TOL = 0.999, 0.995, 0.01, 1e-5, 1e-2, 1e-3
PROBE_PARAMS = {
    "accuracy": {},
    "spectral": {},
    "critical-band": {"adaptive": True},
    "corruption": {"mode": "generated", "corruptions": ["gaussian_noise", "defocus_blur", "contrast"]},
    "adversarial": {"steps": 10},
}


@dataclass
class Check:
    model: str
    name: str
    value: float
    limit: str
    ok: bool


def decoded(dataset: Dataset, model: Classifier, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The model-preprocessed images of ``dataset`` (CPU, [0,1]) with their dataset indices."""
    engine = Engine(EngineConfig(device="cpu", batch_size=batch_size, progress=False, num_workers=0))
    transform = ImageTransform(dataset.spec.resize_policy, model.preprocess)
    return [(b.images, b.indices) for b in engine.batches(feed_of(engine, dataset, transform))]


def all_logits(model: Classifier, batches, config: EngineConfig) -> torch.Tensor:
    engine = Engine(config)
    prepared = engine.prepare(model)
    with torch.no_grad():
        out = torch.cat([engine.logits(prepared, x.to(engine.device)).cpu() for x, _ in batches])
    model.to("cpu").to(memory_format=torch.contiguous_format)
    return out


def shape_bias(model: Classifier, cue: Dataset, config: EngineConfig) -> float:
    probe = get_probe("shape-bias").with_overrides({"bootstrap_reps": 10})
    records = probe.run(ProbeContext(model, cue, Engine(config))).records
    model.to("cpu").to(memory_format=torch.contiguous_format)
    return next(r.value for r in records if r.metric == "shape_bias" and not r.condition)


def stimuli(device: str, seed: int = 0) -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Every device-side perturbation, by name: (x in [0,1], indices) -> perturbed x."""
    from biasbench.perturb.corruptions import CORRUPTIONS
    from biasbench.perturb.critical_band import CriticalBandStimuli
    from biasbench.perturb.spectral import FourierFilterBank

    bank, band = FourierFilterBank("square"), CriticalBandStimuli(seed, quantize=False)
    found = {f"spectral/{kind}/0.3": bank.perturbation(0.3, kind) for kind in ("lowpass", "highpass")}
    found |= {f"critical-band/sigma=0.08/band={f}": band.perturbation(0.08, f) for f in (0, 3, 6)}
    for name, corruption in CORRUPTIONS.items():
        found[f"corruption/{name}/3"] = lambda x, i, c=corruption: c(x, 3, i, seed)
    return found


def pgd_first_step(model: Classifier, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    from biasbench.attacks.gradient import AttackConfig, run_attack

    cfg = AttackConfig(steps=1, random_start=False)
    return run_attack(model, x, y, indices, cfg).detach()


def agreement_checks(name: str, model: Classifier, batches, cue: Dataset, args) -> list[Check]:
    dev, ref = args.device, args.compare_device
    fp32 = EngineConfig(device=dev, progress=False, batch_size=args.batch_size)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    on_ref = all_logits(model, batches, EngineConfig(device=ref, progress=False))
    on_dev = all_logits(model, batches, fp32)
    checks = [
        Check(name, f"fp32 {dev} vs {ref}: top-1 agreement", agree(on_dev, on_ref), f">= {TOP1_FP32}", False),
        Check(
            name, f"fp32 {dev} vs {ref}: max |Δ logit|", (on_dev - on_ref).abs().max().item(), f"<= {LOGIT_TOL}", False
        ),
    ]
    checks[0].ok, checks[1].ok = checks[0].value >= TOP1_FP32, checks[1].value <= LOGIT_TOL
    bias = shape_bias(model, cue, fp32)
    for label, fast in (
        # AMP is CUDA only (refused on a CPU); the CPU dry run compares fp32 with itself on that row.
        ("amp", EngineConfig(device=dev, amp=torch.device(dev).type == "cuda", progress=False)),
        ("channels-last", EngineConfig(device=dev, channels_last=True, progress=False)),
    ):
        top1 = agree(all_logits(model, batches, fast), on_dev)
        checks.append(Check(name, f"{label} vs fp32: top-1 agreement", top1, f">= {TOP1_FAST}", top1 >= TOP1_FAST))
        delta = abs(shape_bias(model, cue, fast) - bias)
        checks.append(
            Check(name, f"{label} vs fp32: |Δ shape bias|", delta, f"<= {SHAPE_BIAS_TOL}", delta <= SHAPE_BIAS_TOL)
        )
    return checks


def agree(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.argmax(1) == b.argmax(1)).double().mean().item()


def stimulus_checks(name: str, model: Classifier, batches, labels: torch.Tensor, args) -> list[Check]:
    x, indices = batches[0]
    dev, ref = torch.device(args.device), torch.device(args.compare_device)
    checks = []
    for label, make in stimuli(args.device).items():
        delta = (make(x.to(dev), indices.to(dev)).cpu() - make(x.to(ref), indices.to(ref)).cpu()).abs().max().item()
        checks.append(Check(name, f"stimulus {label}: max |Δ|", delta, f"<= {STIMULUS_TOL}", delta <= STIMULUS_TOL))
    y = labels[indices]
    on_ref = pgd_first_step(model.to(ref), x.to(ref), y.to(ref), indices.to(ref)).cpu()
    on_dev = pgd_first_step(model.to(dev), x.to(dev), y.to(dev), indices.to(dev)).cpu()
    model.to("cpu")
    flips = (on_dev - on_ref).abs().gt(STIMULUS_TOL).double().mean().item()
    checks.append(
        Check(name, "PGD first step: fraction of pixels differing", flips, f"<= {PGD_FLIP_TOL}", flips <= PGD_FLIP_TOL)
    )
    return checks


def throughput(name: str, model: Classifier, batches, dataset: Dataset, args) -> list[tuple[str, str, float, float]]:
    """(model, what, images/s, ratio to the pure forward rate)."""
    config = EngineConfig(
        device=args.device, batch_size=args.batch_size, progress=False, cache=True, cache_dir=args.cache_dir
    )
    engine = Engine(config)
    prepared = engine.prepare(model)
    on_device = [x.to(engine.device) for x, _ in batches]
    with torch.no_grad():
        engine.logits(prepared, on_device[0])  # warm-up (cuDNN autotuning, lazy init)
        _sync(engine.device)
        start = time.perf_counter()
        for x in on_device:
            engine.logits(prepared, x)
        _sync(engine.device)
    forward = sum(len(x) for x in on_device) / (time.perf_counter() - start)
    rows = [(name, "pure forward", forward, 1.0)]
    subset = dataset.head(args.probe_count)
    for probe_name, params in PROBE_PARAMS.items():
        probe = get_probe(probe_name).with_overrides(params)
        engine = Engine(config)  # a fresh memo: each probe pays for its own clean pass
        _sync(engine.device)
        start = time.perf_counter()
        probe.run(ProbeContext(prepared, subset, engine))
        _sync(engine.device)
        rate = len(subset) / (time.perf_counter() - start)
        rows.append((name, probe_name, rate, rate / forward))
    model.to("cpu").to(memory_format=torch.contiguous_format)
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="device under test")
    parser.add_argument("--compare-device", default="cpu", help="reference device")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="model specs")
    parser.add_argument("--data-root", default=None, help="data root (default: $BIASBENCH_DATA)")
    parser.add_argument("--count", type=int, default=1000, help="images for the agreement checks")
    parser.add_argument("--probe-count", type=int, default=256, help="images per probe for the throughput")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--cache-dir", default=None, help="decoded-image cache folder (default: the user cache)")
    parser.add_argument("--dry-run", action="store_true", help="a few images only (check the script's logic)")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.count, args.probe_count, args.batch_size = min(args.count, 8), min(args.probe_count, 2), 4
    started = time.perf_counter()
    try:
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise BiasbenchError("no CUDA device here; use --device cpu --dry-run to check the script on a CPU")
        root = resolve_data_root(args.data_root)
        dataset = get_dataset_spec("imagenet-sample").load(root).head(args.count)
        cue = get_dataset_spec("cue-conflict").load(root).head(16 if args.dry_run else None)
        labels = torch.tensor([s.label for s in dataset.samples])
        checks, rates = [], []
        for spec in args.models:
            model = load_model(spec)
            name = model.name.rsplit("/", 1)[-1]
            batches = decoded(dataset, model, args.batch_size)
            checks += agreement_checks(name, model, batches, cue, args)
            checks += stimulus_checks(name, model, batches, labels, args)
            rates += throughput(name, model, batches, dataset, args)
    except BiasbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"\nbiasbench GPU check: {args.device} vs {args.compare_device}, {args.count} images "
        f"({time.perf_counter() - started:.0f} s)"
    )
    width = max(len(c.name) for c in checks)
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.model[:32]:<32} {c.name:<{width}} {c.value:>12.6g}  {c.limit}")
    print(f"\n{'model':<32} {'what':<14} {'images/s':>10} {'÷ forward':>10}")
    for model_name, what, rate, ratio in rates:
        print(f"{model_name[:32]:<32} {what:<14} {rate:>10.1f} {ratio:>10.3f}")
    failed = [c for c in checks if not c.ok]
    print(f"\n{len(failed)} of {len(checks)} checks failed" if failed else f"\nall {len(checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
