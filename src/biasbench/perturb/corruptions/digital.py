"""ImageNet-C's digital corruptions: contrast, brightness, saturate, pixelate, JPEG and elastic transform."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from biasbench.perturb.corruptions.draws import Draws
from biasbench.perturb.corruptions.filters import gaussian_filter
from biasbench.perturb.corruptions.registry import jpeg_roundtrip, register_corruption, to_uint8


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) RGB in [0,1] → HSV with hue in [0,1) (skimage's convention)."""
    r, g, b = x.unbind(1)
    v, _ = x.max(1)
    mn, _ = x.min(1)
    delta = v - mn
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    d = delta.clamp_min(1e-12)
    h = torch.where(v == r, (g - b) / d, torch.where(v == g, 2.0 + (b - r) / d, 4.0 + (r - g) / d))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, v), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.long() % 6
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = torch.zeros_like(x)
    for k, (rr, gg, bb) in enumerate(choices):
        m = (i == k).unsqueeze(1)
        out = torch.where(m, torch.stack((rr, gg, bb), 1), out)
    return out


@register_corruption("contrast", (0.4, 0.3, 0.2, 0.1, 0.05), imagenet_c=12)
def contrast(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """(x − mean) · c + mean, with the mean per image and channel."""
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * c + means


@register_corruption("brightness", (0.1, 0.2, 0.3, 0.4, 0.5), imagenet_c=11)
def brightness(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """HSV value + c (clipped to 1)."""
    hsv = rgb_to_hsv(x)
    hsv[:, 2] = (hsv[:, 2] + c).clamp(0, 1)
    return hsv_to_rgb(hsv)


@register_corruption("saturate", ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)), imagenet_c=19)
def saturate(x: torch.Tensor, c: tuple[float, float], draws: Draws) -> torch.Tensor:
    """HSV saturation · c0 + c1 (clipped to [0,1])."""
    hsv = rgb_to_hsv(x)
    hsv[:, 1] = (hsv[:, 1] * c[0] + c[1]).clamp(0, 1)
    return hsv_to_rgb(hsv)


@register_corruption("pixelate", (0.6, 0.5, 0.4, 0.3, 0.25), rounding="round", imagenet_c=14)
def pixelate(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """PIL ``BOX`` resize to ⌊c·size⌋ and ``BOX`` back up (ImageNet-C; imagecorruptions enlarges with
    ``NEAREST``, which picks the same pixels). Done with PIL itself, per image on the CPU: no torch mode
    reproduces PIL's box weights at non-integer ratios and its 8-bit rounding between the two passes."""
    h, w = x.shape[-2:]
    small = (int(w * c), int(h * c))
    out = [
        np.asarray(Image.fromarray(a).resize(small, Image.BOX).resize((w, h), Image.BOX))
        for a in to_uint8(x, "round").permute(0, 2, 3, 1).cpu().numpy()
    ]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255


@register_corruption("jpeg_compression", (25, 18, 15, 10, 7), rounding="round", imagenet_c=15)
def jpeg_compression(x: torch.Tensor, c: int, draws: Draws) -> torch.Tensor:
    """PIL JPEG round trip at quality c (CPU, per image; the 8-bit input is recovered by rounding)."""
    return jpeg_roundtrip(x, c)


ELASTIC = tuple((244 * a, 244 * s, 244 * d) for a, s, d in ((2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02),
                                                            (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)))  # fmt: skip
"""(displacement scale α, displacement smoothness σ, affine jitter) — ImageNet-C's values, "244" included."""


def affine_sources(jitter: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N,H,W,2) source (x, y) of every output pixel of ImageNet-C's random affine ``cv2.warpAffine``: three
    anchor points (taken as (x, y) from (row, column)-ordered centres, as the original) move by ``jitter``
    (N,3,2). Exact coordinates, as OpenCV 5; the OpenCV of 2018 rounded them to 1/32 px (a difference of a
    few 8-bit levels at sharp edges, ~0.05 on average)."""
    centre = torch.tensor([h // 2, w // 2], dtype=torch.float32)
    third = min(h, w) // 3
    pts1 = torch.stack([centre + third, torch.stack([centre[0] + third, centre[1] - third]), centre - third])
    pts2 = (pts1 + jitter.float()).double()  # float32 anchors, as the original
    ones = torch.ones(jitter.shape[0], 3, 1, dtype=torch.float64)
    inverse = torch.linalg.solve(torch.cat([pts2, ones], 2), pts1.double().expand_as(pts2))  # (N,3,2): dst → src
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.einsum("hwk,nkc->nhwc", torch.stack([xs, ys, torch.ones_like(xs)], -1), inverse)


@register_corruption("elastic_transform", ELASTIC, imagenet_c=13)
def elastic_transform(x: torch.Tensor, c: tuple[float, float, float], draws: Draws) -> torch.Tensor:
    """ImageNet-C's elastic transform: a random affine warp (anchor jitter ±c2 px, borders reflected as
    OpenCV's BORDER_REFLECT_101), then a displacement field of uniform noise smoothed by σ = c1 (SciPy
    ``reflect``, truncated at 3σ) and scaled by c0, sampled bilinearly (``map_coordinates(order=1,
    mode="reflect")``). ``imagecorruptions`` ships a different, affine-free variant."""
    n, _, h, w = x.shape
    jitter = draws.uniform((3, 2), "affine", -c[2], c[2])
    src = affine_sources(jitter, h, w)
    scale = torch.tensor([w - 1, h - 1], dtype=torch.float64)
    grid = (src / scale * 2 - 1).to(x.device, x.dtype)
    warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    field = draws.uniform((2, h, w), "displacement", -1.0, 1.0)  # dx, dy
    dx, dy = (gaussian_filter(field, c[1], "reflect", truncate=3.0) * c[0]).float().unbind(1)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    gx = (xs + dx.double() + 0.5) / w * 2 - 1  # align_corners=False + reflection = SciPy's half-sample reflect
    gy = (ys + dy.double() + 0.5) / h * 2 - 1
    grid = torch.stack([gx, gy], -1).to(x.device, x.dtype)
    return F.grid_sample(warped, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
