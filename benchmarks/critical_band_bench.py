"""Throughput of the critical-band probe, two ratios side by side in one run (not a timed test):

(a) Stimulus generation: our batched torch pipeline (counter-based per-sample noise, batched pyramid,
    vectorised repair) vs the per-image reference as Subramanian et al. write it (methods.py
    ``solomon_filter``: pyrtools Laplacian pyramid, two reconstructions, a Python loop over every pixel for
    the out-of-range repair). Target: >= 50x. A breakdown shows where our time goes, and the previous
    per-image torch.Generator draw is timed for comparison.
(b) End-to-end probe throughput as a fraction of the model's pure forward throughput on the same batches:
    (images x conditions) / s of the probe vs images / s of bare forward passes. Target: >= 0.9 on CPU.

    BIASBENCH_DATA=../shared/data .venv/bin/python benchmarks/critical_band_bench.py --images 8 --threads 1

Timings are best-of-``--repeat`` to damp other processes sharing the CPU; say so when reporting numbers.
Needs pyrtools (the ``dev`` extra) for the reference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyrtools as pt
import torch
from PIL import Image

from biasbench.core.rng import sample_generator
from biasbench.data.datasets import load_dataset
from biasbench.data.pixels.images import ImageTransform
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models import load_model
from biasbench.perturb.critical_band import EPSILON, CriticalBandStimuli, band_noise, repair, white_noise
from biasbench.probes import ProbeContext, get_probe
from biasbench.probes.outputs import feed_of

# ------------------------------------------------------------------ per-image reference (methods.py)


def reference_stimulus(rgb: np.ndarray, sigma: float, band: int, rng: np.random.Generator) -> np.ndarray:
    """One stimulus the way the original code makes it: PIL gray, contrast, pyrtools pyramid, the band's and
    level 0's reconstructions, RMS match, then a Python loop over every pixel for the out-of-range repair."""
    g = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64) / 255.0
    g = (g - g.mean()) * 0.2 + 0.449
    noise = rng.normal(0, sigma, g.shape)
    pyr = pt.pyramids.LaplacianPyramid(noise)
    recon, first = pyr.recon_pyr(levels=6 - band), pyr.recon_pyr(levels=0)
    n = recon * np.sqrt(np.mean(first**2)) / np.sqrt(np.mean(recon**2))
    y = g + n
    if y.min() < 0 or y.max() > 1:
        for i in range(g.shape[0]):
            for j in range(g.shape[1]):
                if y[i, j] < 0 or y[i, j] > 1:
                    target = EPSILON - n[i, j] if y[i, j] < 0 else 1 - EPSILON - n[i, j]
                    if 0 <= target <= 1:
                        g[i, j] = target
                    else:
                        while not 0 <= g[i, j] + n[i, j] <= 1:
                            n[i, j] = rng.normal(0, sigma)
    return np.repeat((g + n)[None], 3, axis=0).astype(np.float32)


def per_image_generator_draw(shape: tuple[int, ...], indices: torch.Tensor, sigma: float, band: int) -> torch.Tensor:
    """The previous noise draw: one CPU torch.Generator (mt19937) per image, stacked."""
    draws = [torch.randn(shape, generator=sample_generator(0, int(i), "cbm", sigma, band)) for i in indices.tolist()]
    return torch.stack(draws)


# ------------------------------------------------------------------ timing helpers


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8, help="imagenet-sample images (one batch)")
    parser.add_argument("--repeat", type=int, default=2, help="best-of repeats per timing")
    parser.add_argument("--model", default="bundled:efficientnet_lite0")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--no-probe", action="store_true", help="stimulus generation (a) only")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # on a shared CPU, 1 thread avoids waiting on descheduled peers

    torch.manual_seed(0)
    model = load_model(args.model).eval()
    dataset = load_dataset("imagenet-sample").head(args.images)
    config = EngineConfig(device="cpu", batch_size=args.images, num_workers=0, progress=False)
    engine = Engine(config)
    transform = ImageTransform(dataset.spec.resize_policy, model.preprocess)
    batch = next(engine.batches(feed_of(engine, dataset, transform)))
    x, idx = batch.images, batch.indices
    print(
        f"model {args.model}, {len(x)} imagenet-sample images at {tuple(x.shape[-2:])}, "
        f"torch threads {torch.get_num_threads()}"
    )

    # (a) stimulus generation: one stimuli object per batch, as the probe uses it (gray + contrast once)
    conditions = [(0.16, 0), (0.16, 3), (0.08, 5), (0.16, 6)]
    n_stimuli = len(x) * len(conditions)

    def ours():
        stimuli = CriticalBandStimuli(seed=0)
        for sigma, band in conditions:
            stimuli.apply(x, idx, sigma, band)

    rgb = [(img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for img in x]
    rng = np.random.default_rng(0)
    ref_images = min(len(rgb), 4)

    def reference():
        for sigma, band in conditions:
            for image in rgb[:ref_images]:
                reference_stimulus(image, sigma, band, rng)

    ours()
    t_ours = best_of(ours, args.repeat) / n_stimuli
    t_ref = best_of(reference, 1) / (ref_images * len(conditions))
    print(
        f"(a) stimuli: ours {1 / t_ours:8.1f} img/s | per-image reference (pyrtools + pixel loop) "
        f"{1 / t_ref:6.1f} img/s | speed-up {t_ref / t_ours:6.1f}x (target >= 50x)"
    )
    gray = CriticalBandStimuli(seed=0).base(x)
    shape = tuple(gray.shape[1:])
    white = {c: white_noise(gray, idx, *c) for c in conditions}
    noise = {c: band_noise(white[c], c[1]) for c in conditions}

    def repaired(c: tuple[float, int]) -> torch.Tensor:
        g, n = repair(gray, noise[c].clone(), lambda r, rows: white_noise(gray[rows], idx[rows], *c, round_=r))
        return (g + n).expand(-1, 3, -1, -1).contiguous()

    parts = {
        "noise draw (Philox, Box-Muller)": lambda: [white_noise(gray, idx, *c) for c in conditions],
        "  previous per-image generator": lambda: [per_image_generator_draw(shape, idx, *c) for c in conditions],
        "band-limit + RMS (pyramid)": lambda: [band_noise(white[c], c[1]) for c in conditions],
        "repair + 3 channels": lambda: [repaired(c) for c in conditions],
    }
    for name, fn in parts.items():
        print(f"    {name:34s} {best_of(fn, args.repeat) / n_stimuli * 1e3:7.3f} ms/img")

    if args.no_probe:
        return

    # (b) end-to-end throughput vs bare forward passes on the same batch. Each probe run is bracketed by
    # the same number of bare forwards (one per condition), so both see the same CPU load window.
    def forwards(n: int) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(n):
                engine.logits(model, x)
        return time.perf_counter() - start

    forwards(2)
    n_conditions = 29
    probe = get_probe("critical-band")()
    ratios, rates = [], []
    for _ in range(args.repeat):
        before = forwards(n_conditions)
        start = time.perf_counter()
        probe.run(ProbeContext(model, dataset, engine, seed=0))
        t_probe = time.perf_counter() - start
        after = forwards(n_conditions)
        ratios.append((before + after) / 2 / t_probe)
        rates.append(len(x) * n_conditions / t_probe)
    print(
        f"(b) critical-band probe: {max(rates):6.2f} img·cond/s vs bare forward "
        f"{len(x) * n_conditions * 2 / (before + after):6.2f} img/s -> ratio {np.median(ratios):.3f} "
        f"(runs {', '.join(f'{r:.3f}' for r in ratios)}; target >= 0.9; {n_conditions} conditions, "
        "decode and reduction included)"
    )
    summary = f"stimuli {t_ref / t_ours:.1f}x the per-image reference | probe {np.median(ratios):.3f}x pure forward"
    print(f"summary ({args.model}, {len(x)} images, {torch.get_num_threads()} threads): {summary}")


if __name__ == "__main__":
    main()
