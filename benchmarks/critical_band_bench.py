"""Throughput of the spectral and critical-band probes (prints ratios; not a timed test).

(a) Critical-band stimulus generation: our batched torch pipeline vs a straightforward per-image reference
    (NumPy Laplacian pyramid via scipy.ndimage, per-pixel Python repair loop, as the original code does it).
    Target: >= 50x.
(b) End-to-end probe throughput as a fraction of the model's pure forward throughput on the same batches:
    (images x conditions) / s of the probe vs images / s of bare forward passes. Target: >= 0.9 on CPU.

    BIASBENCH_DATA=../shared/data .venv/bin/python benchmarks/critical_band_bench.py --images 8

Timings are best-of-``--repeat`` to damp other processes sharing the CPU; say so when reporting numbers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import correlate1d

from biasbench.data.datasets import load_dataset
from biasbench.data.images import ImageTransform
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models import load_model
from biasbench.perturb.critical_band import EPSILON, CriticalBandStimuli
from biasbench.perturb.pyramid import BINOM5, pyramid_height
from biasbench.probes import ProbeContext, get_probe

# ------------------------------------------------------------------ per-image NumPy reference


def _reduce(im: np.ndarray) -> np.ndarray:
    h = np.asarray(BINOM5)
    return correlate1d(correlate1d(im, h, axis=1, mode="mirror")[:, ::2], h, axis=0, mode="mirror")[::2]


def _expand(im: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h = np.asarray(BINOM5)
    z = np.zeros((shape[0], im.shape[1]))
    z[::2] = im
    z = correlate1d(z, h, axis=0, mode="mirror")
    out = np.zeros(shape)
    out[:, ::2] = z
    return correlate1d(out, h, axis=1, mode="mirror")


def reference_stimulus(rgb: np.ndarray, sigma: float, band: int, rng: np.random.Generator) -> np.ndarray:
    """One stimulus the way the original code makes it: PIL gray, contrast, full pyramid, single-level
    reconstruction, RMS match, then a Python loop over every pixel for the out-of-range repair."""
    g = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64) / 255.0
    g = (g - g.mean()) * 0.2 + 0.449
    noise = rng.normal(0, sigma, g.shape)
    levels, im = [], noise
    height = pyramid_height(min(g.shape))
    for _ in range(height - 1):
        nxt = _reduce(im)
        levels.append(im - _expand(nxt, im.shape))
        im = nxt
    levels.append(im)
    keep = height - 1 - band
    recon = np.zeros_like(levels[-1])
    for lev in reversed(range(height)):
        if lev < height - 1:
            recon = _expand(recon, levels[lev].shape)
        if lev == keep:
            recon = recon + levels[lev]
    n = recon * np.sqrt(np.mean(noise**2)) / np.sqrt(np.mean(recon**2))
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            y = g[i, j] + n[i, j]
            if y < 0 or y > 1:
                target = EPSILON - n[i, j] if y < 0 else 1 - EPSILON - n[i, j]
                if 0 <= target <= 1:
                    g[i, j] = target
                else:
                    while not 0 <= g[i, j] + n[i, j] <= 1:
                        n[i, j] = rng.normal(0, sigma)
    return np.repeat((g + n)[None], 3, axis=0).astype(np.float32)


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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # on a shared CPU, 1 thread avoids waiting on descheduled peers

    torch.manual_seed(0)
    model = load_model(args.model).eval()
    dataset = load_dataset("imagenet-sample").head(args.images)
    config = EngineConfig(device="cpu", batch_size=args.images, num_workers=0, progress=False)
    engine = Engine(config)
    transform = ImageTransform(dataset.spec.resize_policy, model.preprocess)
    batch = next(engine.batches(dataset, transform))
    x, idx = batch.images, batch.indices
    print(
        f"model {args.model}, {len(x)} imagenet-sample images at {tuple(x.shape[-2:])}, "
        f"torch threads {torch.get_num_threads()}"
    )

    # (a) stimulus generation
    conditions = [(0.16, 0), (0.16, 3), (0.08, 5), (0.16, 6)]

    def ours():
        for sigma, band in conditions:
            CriticalBandStimuli(seed=0).apply(x, idx, sigma, band)

    rgb = [(img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for img in x]
    rng = np.random.default_rng(0)
    ref_images = min(len(rgb), 4)

    def reference():
        for sigma, band in conditions:
            for image in rgb[:ref_images]:
                reference_stimulus(image, sigma, band, rng)

    ours()
    t_ours = best_of(ours, args.repeat) / (len(x) * len(conditions))
    t_ref = best_of(reference, 1) / (ref_images * len(conditions))
    print(
        f"(a) stimuli: ours {1 / t_ours:8.1f} img/s | per-image NumPy reference {1 / t_ref:6.1f} img/s | "
        f"speed-up {t_ref / t_ours:6.1f}x (target >= 50x)"
    )

    # (b) end-to-end throughput vs bare forward passes on the same batch. Each probe run is bracketed by
    # the same number of bare forwards (one per condition), so both see the same CPU load window.
    def forwards(n: int) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(n):
                engine.logits(model, x)
        return time.perf_counter() - start

    forwards(2)
    for probe_name, n_conditions in (("spectral", 23), ("critical-band", 29)):
        probe = get_probe(probe_name)()
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
            f"(b) {probe_name:13s}: {max(rates):6.2f} img·cond/s vs bare forward "
            f"{len(x) * n_conditions * 2 / (before + after):6.2f} img/s -> ratio {np.median(ratios):.3f} "
            f"(runs {', '.join(f'{r:.3f}' for r in ratios)}; target >= 0.9; {n_conditions} conditions, "
            "decode and reduction included)"
        )


if __name__ == "__main__":
    main()
