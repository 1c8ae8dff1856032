"""The ``imagecorruptions`` reference for the corruption tests: a compatibility shim, replay of our random
draws into its NumPy calls, and independent re-implementations of the two ImageNet-C functions that
imagecorruptions changed (frost's texture crop, the affine elastic transform of ``make_imagenet_c.py``).

Compatibility shim (imagecorruptions 1.1.2 predates NumPy 2 and skimage 0.19+; site-packages stays untouched):
- ``skimage.filters.gaussian(multichannel=True)`` → ``channel_axis=-1`` (glass_blur, gaussian_blur);
- ``np.float_`` → ``np.float64`` (fog's plasma fractal).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.perturb.corruptions.draws import Draws

SAMPLE = "imagenet-sample-images/images"


def load_reference():
    """The imagecorruptions module with the shim applied (skips the test when it is not installed)."""
    pytest.importorskip("cv2")
    ic = pytest.importorskip("imagecorruptions.corruptions")
    from skimage.filters import gaussian as sk_gaussian

    def gaussian(image, sigma=1, multichannel=None, **kwargs):
        if multichannel:
            kwargs["channel_axis"] = -1
        return sk_gaussian(image, sigma=sigma, **kwargs)

    ic.gaussian = gaussian
    if not hasattr(np, "float_"):
        np.float_ = np.float64
    return ic


def real_images(root: Path, n: int, size: int = 224) -> np.ndarray:
    """(n,H,W,3) uint8: the first n RGB sample images, shorter side to 256 then centre crop (as ImageNet-C)."""
    out = []
    for path in sorted((root / SAMPLE).iterdir()):
        image = Image.open(path)
        if image.mode != "RGB":
            continue
        w, h = image.size
        s = 256 / min(w, h)
        image = image.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
        left, top = (image.width - size) // 2, (image.height - size) // 2
        out.append(np.asarray(image.crop((left, top, left + size, top + size))))
        if len(out) == n:
            break
    return np.stack(out)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def hwc(t: torch.Tensor) -> np.ndarray:
    """One image's draws (C,H,W) as NumPy (H,W,C); 2-D draws pass through."""
    a = t.double().cpu().numpy()
    return a.transpose(1, 2, 0) if a.ndim == 3 else a


class Replay:
    """Stand-ins for ``np.random`` functions that return our draws for image ``i`` in call order."""

    def __init__(self, draws: Draws, i: int, like: torch.Tensor):
        self.draws, self.i, self.like = draws, i, like

    def normal(self, tag: str, shape) -> callable:
        z = hwc(self.draws.normal(shape, tag, self.like.double())[self.i])
        return lambda size=None, loc=0.0, scale=1.0: loc + scale * z

    def uniform_stream(self, tag: str) -> callable:
        g = self.draws.generators(tag)[self.i]
        from biasbench.perturb.corruptions.draws import uniform

        def fake(low=0.0, high=1.0, size=None):
            a = uniform(g, () if size is None else size, low, high).numpy()
            return float(a) if size is None else a

        return fake


@contextmanager
def patched(monkeypatch, **fakes) -> Iterator[None]:
    """Patch ``np.random.<name>`` for the duration of one reference call."""
    with monkeypatch.context() as m:
        for name, fn in fakes.items():
            m.setattr(np.random, name, fn)
        yield


def hendrycks_frost(image: np.ndarray, severity: int, pick: int, top: int, left: int, folder: Path) -> np.ndarray:
    """``make_imagenet_c.frost`` with its random draws given: texture ``pick`` (0-4), crop at (top, left)."""
    import cv2

    c = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    names = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg"]
    texture = cv2.imread(str(folder / names[pick]))[..., ::-1]
    h, w = image.shape[:2]
    return np.clip(c[0] * image + c[1] * texture[top : top + h, left : left + w], 0, 255)


def hendrycks_elastic(image: np.ndarray, severity: int, jitter: np.ndarray, field: np.ndarray) -> np.ndarray:
    """``make_imagenet_c.elastic_transform`` with its uniform draws given (jitter (3,2), field (2,H,W))."""
    import cv2
    from scipy.ndimage import map_coordinates
    from skimage.filters import gaussian

    alpha, sigma, _ = [(2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)][
        severity - 1
    ]
    alpha, sigma = 244 * alpha, 244 * sigma
    x = image.astype(np.float32) / 255
    h, w = x.shape[:2]
    centre, third = np.float32((h, w)) // 2, min(h, w) // 3
    src = np.float32([centre + third, [centre[0] + third, centre[1] - third], centre - third])
    affine = cv2.getAffineTransform(src, src + jitter.astype(np.float32))
    x = cv2.warpAffine(x, affine, (w, h), borderMode=cv2.BORDER_REFLECT_101)
    dx, dy = ((gaussian(f, sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)[..., None] for f in field)
    cols, rows, chans = np.meshgrid(np.arange(w), np.arange(h), np.arange(3))
    coords = (rows + dy).reshape(-1), (cols + dx).reshape(-1), chans.reshape(-1)
    return np.clip(map_coordinates(x, coords, order=1, mode="reflect").reshape(x.shape), 0, 1) * 255


def hendrycks_snow(image: np.ndarray, severity: int, field: np.ndarray, angle: float, ic) -> np.ndarray:
    """``make_imagenet_c.snow`` with its draws given (standard-normal ``field`` (H,W), blur ``angle``): the zoomed
    flake layer trimmed to the image, truncated to 8 bits, blurred, rounded to 8 bits. ImageMagick's
    ``-motion-blur`` is replaced by imagecorruptions' NumPy version of it (``ic._motion_blur``), as in biasbench."""
    import cv2
    from scipy.ndimage import zoom

    c = [
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ][severity - 1]
    x = image.astype(np.float32) / 255.0
    h = x.shape[0]
    layer = (c[0] + c[1] * field)[..., None]
    ch = int(np.ceil(h / c[2]))
    top = (h - ch) // 2
    layer = zoom(layer[top : top + ch, top : top + ch], (c[2], c[2], 1), order=1)
    trim = (layer.shape[0] - h) // 2
    layer = layer[trim : trim + h, trim : trim + h]  # ImageNet-C trims first ...
    layer[layer < c[3]] = 0
    layer8 = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)  # ... hands ImageMagick an 8-bit image ...
    blurred = ic._motion_blur(layer8 / 255.0, radius=c[4], sigma=c[5], angle=angle)  # ... and blurs it
    layer = (np.round(blurred * 255) / 255.0)[..., None]  # ImageMagick's 8-bit output
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(h, x.shape[1], 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255
