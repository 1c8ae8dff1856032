"""Corruption benchmark: seconds per batch for every generated corruption (and storage format).

Times each of the 19 corruptions on one batch of real 224-px sample images (random images without a data
root) at the given severities, on the chosen device, best of ``--repeat`` runs.

Usage: python benchmarks/corruptions_bench.py [--batch-size 32] [--severities 3] [--device cpu] [--repeat 1]
       [--threads N]  (on a shared, loaded machine one thread gives the stabler numbers)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from biasbench.core.paths import resolve_data_root
from biasbench.perturb.corruptions import CORRUPTIONS, SAVE_AS, get_corruption


def sample_batch(n: int, size: int = 224) -> torch.Tensor:
    """n RGB sample images (shorter side 256, centre crop), or uniform noise without a data root."""
    try:
        folder = resolve_data_root(None) / "imagenet-sample-images" / "images"
        paths = sorted(folder.iterdir())
    except Exception:
        return torch.rand(n, 3, size, size)
    out = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        s = 256 / min(image.size)
        image = image.resize((max(size, round(image.width * s)), max(size, round(image.height * s))))
        left, top = (image.width - size) // 2, (image.height - size) // 2
        out.append(np.asarray(image.crop((left, top, left + size, top + size))))
        if len(out) == n:
            break
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--severities", type=int, nargs="+", default=[3])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = sample_batch(args.batch_size).to(args.device)
    idx = torch.arange(len(x))
    print(f"{len(x)} images {tuple(x.shape[-2:])} on {args.device}, torch threads {torch.get_num_threads()}")
    total = 0.0
    for name in CORRUPTIONS:
        corruption = get_corruption(name)
        times = [timed(lambda s=s, c=corruption: c(x, s, idx), args.repeat) for s in args.severities]
        total += sum(times)
        print(f"{name:18s} " + " ".join(f"s{s}: {t:6.3f}s" for s, t in zip(args.severities, times, strict=True)))
    print(f"{'all':18s} {total:.2f}s")
    for fmt, store in SAVE_AS.items():
        print(f"save_as={fmt:7s} {timed(lambda store=store: store(x, 'truncate'), args.repeat):6.3f}s")


if __name__ == "__main__":
    main()
