"""Per-sample random streams: every draw is keyed by (global seed, sample index, condition), never by global
RNG state, so results do not depend on batch size, worker count or device (DESIGN.md principle 4).

The generator is Philox4x32-10 (Salmon et al., SC 2011, "Parallel random numbers: as easy as 1, 2, 3"),
written in plain torch int64 operations so that one vectorised call draws a whole batch on the batch's
own device. Every intermediate value stays below 2^49, so no operation overflows int64 and the 32-bit
words are the same on every device and at every batch size.

Stream layout: the Philox key of sample ``i`` is its dataset index (low and high 32-bit words); the
counter is (block, h0, h1, h2) where (h0, h1, h2) are 96 bits of a BLAKE2b hash of (seed, *condition),
computed once per call on the host, and ``block`` numbers the 4-word blocks of that sample's draw. Word
``j`` of a sample's draw is word ``j % 4`` of block ``j // 4``.

On a CPU the ~220 int64 operations per block run as separate eager kernels (≈ 1.5 ms per 224² image on one
core, several times torch's own mt19937); ``BIASBENCH_COMPILE_RNG=1`` compiles the integer core with
``torch.compile`` (a one-off compile of tens of seconds, then ≈ 10× faster). Integer arithmetic is exact, so
compiled and eager words are identical.

Uniforms: word w → (w >> (32 − m)) · 2^−m with m = min(32, mantissa bits + 1 of the dtype) (24 for
float32), exactly representable, in [0, 1).

Normals (Box–Muller): words (w0, w1, w2, w3) of block b give normals 4b … 4b+3 as
r0·cos θ1, r0·sin θ1, r2·cos θ3, r2·sin θ3 with r = √(−2 ln((w + 1)·2^−32)) and θ = 2π·w·2^−32, computed in
float64 and rounded to the requested dtype. The integer stream is bit-identical everywhere; ln, cos and sin
come from the device's math library, whose float64 results can differ by an ulp between devices, which
changes a float32 value only when it lies within that distance of a rounding boundary (≈ 1e-9 per value).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections.abc import Callable, Sequence

import torch

MASK32 = 0xFFFFFFFF
PHILOX_M = (0xD2511F53, 0xCD9E8D57)  # round multipliers
PHILOX_W = (0x9E3779B9, 0xBB67AE85)  # Weyl key increments
PHILOX_ROUNDS = 10

Words = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def sample_seed(seed: int, index: int, *condition: object) -> int:
    """A 63-bit seed derived from the global seed, the sample's dataset index and the condition (for code
    that needs one integer seed per sample, e.g. a NumPy generator)."""
    text = repr((int(seed), int(index), *condition)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def sample_generator(seed: int, index: int, *condition: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded for one (sample, condition), for draws the counter-based
    generator does not provide (e.g. ``torch.poisson``)."""
    g = torch.Generator(device=device)
    g.manual_seed(sample_seed(seed, index, *condition))
    return g


def stream_words(seed: int, *condition: object) -> tuple[int, int, int]:
    """The three 32-bit counter words that select the stream of (seed, *condition): a BLAKE2b hash of its
    ``repr``, computed once on the host."""
    digest = hashlib.blake2b(repr((int(seed), *condition)).encode(), digest_size=12).digest()
    return tuple(int.from_bytes(digest[4 * k : 4 * k + 4], "little") for k in range(3))  # type: ignore[return-value]


def _mulhilo_split(a: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """High and low 32-bit words of a·m for an int64 tensor ``a`` < 2^32 and a constant m < 2^32, from two
    32×16-bit products (each < 2^48), so nothing overflows int64. Works wherever int64 does."""
    high = a * (m >> 16)
    low = high & 0xFFFF
    low <<= 16
    low += a * (m & 0xFFFF)  # a·m = (high >> 16)·2^32 + low, low < 2^49
    high >>= 16
    high += low >> 32
    low &= MASK32
    return high, low


def _mulhilo_unsigned(a: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same words from one uint64 product (a·m < 2^64, so it is exact), reinterpreted as int64 for the
    shift torch lacks for uint64: half the operations of ``_mulhilo_split``."""
    p = (a.view(torch.uint64) * m).view(torch.int64)
    return (p >> 32) & MASK32, p & MASK32


@functools.cache
def _unsigned_multiply_works(device_type: str) -> bool:
    """Whether this torch build multiplies uint64 tensors on ``device_type`` (and gets it right)."""
    a = torch.tensor([0xFFFFFFFF, 0x243F6A88, 7], dtype=torch.int64, device=device_type)
    try:
        got = _mulhilo_unsigned(a, PHILOX_M[0])
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    want = _mulhilo_split(a, PHILOX_M[0])
    return all(torch.equal(g, w) for g, w in zip(got, want, strict=True))


def philox4x32(
    counter: Sequence[torch.Tensor], key: Sequence[torch.Tensor], rounds: int = PHILOX_ROUNDS, unsigned: bool = True
) -> Words:
    """Philox4x32-``rounds`` on int64 tensors holding unsigned 32-bit words (broadcast against each other).
    Returns the four output words; matches the Random123 known-answer vectors. ``unsigned`` uses uint64
    products where the device supports them; either way the words are exact and identical."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    unsigned = unsigned and _unsigned_multiply_works(c0.device.type)
    mulhilo = _mulhilo_unsigned if unsigned else _mulhilo_split
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + PHILOX_W[0]) & MASK32, (k1 + PHILOX_W[1]) & MASK32
        hi0, lo0 = mulhilo(c0, PHILOX_M[0])
        hi1, lo1 = mulhilo(c2, PHILOX_M[1])
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


@functools.cache
def _philox_kernel() -> Callable[..., Words]:
    """``philox4x32``, compiled when ``BIASBENCH_COMPILE_RNG=1`` (module docstring)."""
    if os.environ.get("BIASBENCH_COMPILE_RNG") == "1":
        return functools.partial(torch.compile(philox4x32, dynamic=True), unsigned=False)
    return philox4x32


def _index_tensor(indices: torch.Tensor | Sequence[int], device: torch.device) -> torch.Tensor:
    if isinstance(indices, torch.Tensor):
        idx = indices.to(device=device, dtype=torch.int64)
    else:
        idx = torch.tensor([int(i) for i in indices], dtype=torch.int64, device=device)
    if idx.ndim != 1:
        raise ValueError(f"indices must be one dataset index per sample (a 1-D sequence), got shape {tuple(idx.shape)}")
    if len(idx) and int(idx.min()) < 0:
        raise ValueError(f"dataset indices must be non-negative, got {int(idx.min())}")
    return idx


def random_words(
    count: int, seed: int, indices: torch.Tensor | Sequence[int], *condition: object, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """The first ``count`` 32-bit words (int64 values in [0, 2^32)) of each sample's stream, (N, count),
    generated on ``device``."""
    device = torch.device(device)
    idx = _index_tensor(indices, device)
    blocks = -(-count // 4)
    if blocks > MASK32 + 1:
        raise ValueError(f"{count} words per sample exceed the 2^34 a Philox stream provides")
    h0, h1, h2 = stream_words(seed, *condition)
    key = ((idx & MASK32).unsqueeze(1), (idx >> 32).unsqueeze(1))
    block = torch.arange(blocks, dtype=torch.int64, device=device).unsqueeze(0)
    counter = (block, torch.full_like(block, h0), torch.full_like(block, h1), torch.full_like(block, h2))
    words = _philox_kernel()(counter, key)
    return torch.stack(words, dim=-1).reshape(len(idx), 4 * blocks)[:, :count]


def seeded_rand(
    shape: Sequence[int],
    seed: int,
    indices: torch.Tensor | Sequence[int],
    *condition: object,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Uniform [0, 1) values of ``shape`` for each sample in ``indices``, (N, *shape). Sample i's values
    depend only on (seed, indices[i], condition)."""
    shape = tuple(shape)
    bits = min(32, 1 - int(math.log2(torch.finfo(dtype).eps)))  # mantissa bits + 1: 24 for float32
    words = random_words(math.prod(shape), seed, indices, *condition, device=device)
    return ((words >> (32 - bits)).double() * 2.0**-bits).to(dtype).reshape(len(words), *shape)


def seeded_randn(
    shape: Sequence[int],
    seed: int,
    indices: torch.Tensor | Sequence[int],
    *condition: object,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard-normal values of ``shape`` for each sample in ``indices``, (N, *shape), by Box–Muller from
    the sample's Philox stream (module docstring). Sample i's noise depends only on (seed, indices[i],
    condition), and is generated on ``device`` in one vectorised call."""
    shape = tuple(shape)
    count = math.prod(shape)
    padded = count + (-count) % 4
    words = random_words(padded, seed, indices, *condition, device=device).double()
    pairs = words.view(len(words), padded // 2, 2)  # (w0, w1), (w2, w3), ...
    radius = torch.sqrt(-2.0 * torch.log((pairs[..., 0] + 1.0) * 2.0**-32))
    angle = (2.0 * math.pi * 2.0**-32) * pairs[..., 1]
    normals = torch.stack((radius * torch.cos(angle), radius * torch.sin(angle)), dim=-1)
    return normals.reshape(len(words), padded)[:, :count].to(dtype).reshape(len(words), *shape)
