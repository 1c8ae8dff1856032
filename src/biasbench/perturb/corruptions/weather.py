"""ImageNet-C's weather corruptions: snow, frost, fog and spatter.

Frost overlays the six photographs of frost that ship with the ``imagecorruptions`` package (read from its
folder at run time, never copied here); spatter's water drops (severities 1-3) run OpenCV's Canny edge
detector and distance transform per image. Both come with ``pip install imagecorruptions``.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from biasbench.core.errors import BiasbenchError
from biasbench.perturb.corruptions.draws import Draws, uniform
from biasbench.perturb.corruptions.filters import centre_trim, clipped_zoom, gaussian_filter, motion_blur
from biasbench.perturb.corruptions.registry import register_corruption

INSTALL_HINT = "pip install imagecorruptions (or the biasbench[corruptions] extra)"
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


def gray(x: torch.Tensor) -> torch.Tensor:
    """(N,1,H,W) luma of RGB ``x`` with OpenCV's RGB2GRAY weights."""
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


SNOW = (
    (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
    (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
    (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
)


def snow_layer(x: torch.Tensor, c: tuple, draws: Draws, *, trim_first: bool) -> torch.Tensor:
    """The (N,1,H,W) flake layer: a N(c0, c1²) field zoomed by c2, thresholded at c3, motion-blurred (radius
    c4, σ c5) along a direction uniform in [−135°, −45°) and rounded to 8 bits.

    ``trim_first`` is ImageNet-C's order (``make_imagenet_c.snow``): the zoomed layer (225 px at 224 and factor
    3, 4.5 or 2.5) is trimmed to the image size, truncated to 8 bits (its ``astype(np.uint8)`` hand-off to
    ImageMagick) and then blurred, edges replicated. ``imagecorruptions`` blurs the untrimmed layer in float and
    crops its top-left corner afterwards, which changes the blur within ~13 px of the bottom and right edges."""
    h, w = x.shape[-2:]
    layer = c[0] + c[1] * draws.normal((h, w), "flakes", x.double()).unsqueeze(1)
    layer = clipped_zoom(layer, c[2])
    if trim_first:
        layer = centre_trim(layer, h, w)
    layer = torch.where(layer < c[3], torch.zeros_like(layer), layer).clamp(0, 1)
    if trim_first:
        layer = torch.floor(layer * 255) / 255
    angles = draws.uniform((), "angle", -135.0, -45.0).tolist()
    layer = torch.round(motion_blur(layer, c[4], c[5], angles) * 255) / 255
    return layer[..., :h, :w].to(x.dtype)


def add_snow(x: torch.Tensor, c: tuple, layer: torch.Tensor) -> torch.Tensor:
    """The image brightened towards 1.5·gray + 0.5 by 1 − c6, plus the layer as is and rotated by 180°."""
    x = c[6] * x + (1 - c[6]) * torch.maximum(x, gray(x) * 1.5 + 0.5)
    return x + layer + layer.flip(-2, -1)


@register_corruption("snow", SNOW, imagenet_c=8)
def snow(x: torch.Tensor, c: tuple, draws: Draws) -> torch.Tensor:
    """ImageNet-C's snow (see :func:`snow_layer`): flakes trimmed to the image, then blurred."""
    return add_snow(x, c, snow_layer(x, c, draws, trim_first=True))


@register_corruption("snow_imagecorruptions", SNOW)
def snow_imagecorruptions(x: torch.Tensor, c: tuple, draws: Draws) -> torch.Tensor:
    """Compatibility variant: ``imagecorruptions``' snow, the zoomed flakes blurred before they are cropped
    (not part of ImageNet-C's 19; request it by name to compare with that package)."""
    return add_snow(x, c, snow_layer(x, c, draws, trim_first=False))


def frost_folder() -> Path:
    """The ``frost`` folder of the installed ``imagecorruptions`` package (found without importing it)."""
    spec = importlib.util.find_spec("imagecorruptions")
    folder = Path(next(iter(spec.submodule_search_locations))) / "frost" if spec else None
    if folder is None or not all((folder / f).is_file() for f in FROST_FILES):
        raise BiasbenchError(f"the frost corruption needs the frost photographs of imagecorruptions: {INSTALL_HINT}")
    return folder


@lru_cache(maxsize=8)
def frost_texture(index: int, min_h: int, min_w: int) -> torch.Tensor:
    """Frost photograph ``index`` as a (3,h,w) uint8 tensor; enlarged (bicubic, 1.1× the needed factor, as
    imagecorruptions) only when smaller than the image, which never happens at ImageNet-C's 224 px."""
    image = Image.open(frost_folder() / FROST_FILES[index]).convert("RGB")
    scale = max(min_h / image.height, min_w / image.width)
    if scale >= 1:
        size = (int(np.ceil(image.width * scale * 1.1)), int(np.ceil(image.height * scale * 1.1)))
        image = image.resize(size, Image.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


@register_corruption("frost", ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)), imagenet_c=9)
def frost(x: torch.Tensor, c: tuple[float, float], draws: Draws) -> torch.Tensor:
    """c0·x + c1·(a random crop of one of frost1-5; ImageNet-C's ``randint(5)`` never picks frost6)."""
    h, w = x.shape[-2:]
    crops = []
    for g in draws.generators("texture"):
        texture = frost_texture(int(torch.randint(0, 5, (), generator=g)), h + 1, w + 1)
        top = int(torch.randint(0, texture.shape[1] - h, (), generator=g))
        left = int(torch.randint(0, texture.shape[2] - w, (), generator=g))
        crops.append(texture[:, top : top + h, left : left + w])
    # on the 0-255 scale, as ImageNet-C (np.array(img) * c0 + frost * c1): the same float rounding before np.uint8
    return (c[0] * (x * 255) + c[1] * torch.stack(crops).to(x.device, x.dtype)) / 255


def plasma_fractal(generators: list[torch.Generator], size: int, decay: float) -> torch.Tensor:
    """(N, size, size) float64 diamond-square height maps in [0,1], one per generator (ImageNet-C's
    ``plasma_fractal``; ``size`` a power of two), all levels computed for the whole batch at once."""
    if size & (size - 1):
        raise ValueError(f"plasma fractal size must be a power of two, got {size}")
    maps = torch.zeros(len(generators), size, size, dtype=torch.float64)
    step, wibble = size, 100.0

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        noise = torch.stack([uniform(g, total.shape[1:], -wibble, wibble) for g in generators])
        return total / 4 + wibble * noise

    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        squares = corners + corners.roll(-1, 1)
        squares = squares + squares.roll(-1, 2)
        maps[:, half::step, half::step] = wibbled_mean(squares)
        centres, corners = maps[:, half::step, half::step], maps[:, ::step, ::step]
        maps[:, ::step, half::step] = wibbled_mean(centres + centres.roll(1, 1) + corners + corners.roll(-1, 2))
        maps[:, half::step, ::step] = wibbled_mean(centres + centres.roll(1, 2) + corners + corners.roll(-1, 1))
        step //= 2
        wibble /= decay
    maps -= maps.amin((1, 2), keepdim=True)
    return maps / maps.amax((1, 2), keepdim=True)


@register_corruption("fog", ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)), imagenet_c=10)
def fog(x: torch.Tensor, c: tuple[float, float], draws: Draws) -> torch.Tensor:
    """(x + c0·plasma) · max(x) / (max(x) + c0), the plasma fractal's roughness decaying by c1 per level."""
    h, w = x.shape[-2:]
    size = 1 << (max(h, w) - 1).bit_length()
    plasma = plasma_fractal(draws.generators("plasma"), size, c[1])[:, None, :h, :w].to(x.device, x.dtype)
    peak = x.amax((1, 2, 3), keepdim=True)
    return (x + c[0] * plasma) * peak / (peak + c[0])


SPATTER = (
    (0.65, 0.3, 4, 0.69, 0.6, 0),
    (0.65, 0.3, 3, 0.68, 0.6, 0),
    (0.65, 0.3, 2, 0.68, 0.5, 0),
    (0.65, 0.3, 1, 0.65, 1.5, 1),
    (0.67, 0.4, 1, 0.65, 1.5, 1),
)
WATER = torch.tensor([175, 238, 238], dtype=torch.float64) / 255  # "pale turquoise", in ImageNet-C's channel order
MUD = torch.tensor([63, 42, 20], dtype=torch.float64) / 255


def water_mask(liquid: np.ndarray, strength: float) -> np.ndarray:
    """ImageNet-C's water-drop opacity for one (H,W) liquid layer: Canny edges → distance transform →
    truncation at 20 → box blur → histogram equalisation → an embossing kernel → box blur, times the layer,
    normalised to a peak of ``strength``."""
    try:
        import cv2
    except ImportError as e:
        raise BiasbenchError(f"spatter severities 1-3 need OpenCV: {INSTALL_HINT}") from e
    layer = (liquid * 255).astype(np.uint8)  # NumPy's cast, wrap-around above 255 included, as the original
    dist = cv2.distanceTransform(255 - cv2.Canny(layer, 50, 150), cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
    dist = cv2.filter2D(dist, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
    m = layer * cv2.blur(dist, (3, 3)).astype(np.float32)
    peak = m.max()
    return m / peak * strength if peak > 0 else m


@register_corruption("spatter", SPATTER, imagenet_c=18)
def spatter(x: torch.Tensor, c: tuple, draws: Draws) -> torch.Tensor:
    """A N(c0, c1²) liquid layer blurred by σ = c2 and thresholded at c3: water drops (c5 = 0: turquoise
    added along the drops' embossed edges) or mud (c5 = 1: brown blended in where the blurred drop mask,
    σ = c4, exceeds 0.8)."""
    h, w = x.shape[-2:]
    liquid = c[0] + c[1] * draws.normal((h, w), "liquid", x.double()).cpu()
    liquid = gaussian_filter(liquid, c[2], "nearest")
    liquid = torch.where(liquid < c[3], torch.zeros_like(liquid), liquid)
    if c[5] == 0:
        m = torch.from_numpy(np.stack([water_mask(a, c[4]) for a in liquid.numpy()])).double()
        return x + (m[:, None] * WATER[None, :, None, None]).to(x.device, x.dtype)
    m = gaussian_filter((liquid > c[3]).double(), c[4], "nearest")
    m = torch.where(m < 0.8, torch.zeros_like(m), m)[:, None].to(x.device, x.dtype)
    return x * (1 - m) + MUD.to(x.device, x.dtype)[None, :, None, None] * m
