"""Per-sample random streams: every draw is keyed by (global seed, sample index, condition), never by global
RNG state, so results do not depend on batch size, worker count or device (DESIGN.md principle 4).

The generator is Philox4x32-10 (Salmon et al., SC 2011, "Parallel random numbers: as easy as 1, 2, 3"),
written in plain torch int64 operations so that one vectorised call draws a whole batch on the batch's
own device. Every intermediate value stays below 2^49, so no operation overflows int64 and the 32-bit
words are the same on every device and at every batch size.

Stream layout: the Philox key is (h0, h1) and the counter is (block, i_lo, i_hi, h2), where (h0, h1, h2) are
96 bits of a BLAKE2b hash of (seed, *condition), computed once per call on the host, (i_lo, i_hi) are the
32-bit words of the sample's dataset index, and ``block`` numbers the 4-word blocks of that sample's draw.
Word ``j`` of a sample's draw is word ``j % 4`` of block ``j // 4``. (Keeping the key a host constant lets
every round's key XOR run as a scalar operation; Philox is a keyed bijection of the counter, so distinct
(index, block) pairs never share a block within a stream.)

Cost: Philox is ≈ 10 rounds of two 32x32-bit products per block of four words. On a CPU the integer core runs
in NumPy uint64 arithmetic (whose wrap-around is defined, so a product is one multiply) on pieces of at most
``CPU_CHUNK`` elements, so each operation stays in cache; each piece is a multiple of 16 blocks wide (the draw is
padded and cut back), so every float operation goes through the same SIMD code path whatever the batch size (a
scalar tail loop could round ln/cos/sin differently). That is ≈ 1 ms per 224x224 field, several times torch's own
mt19937 per image (see benchmarks/critical_band_bench.py), bought for device independence. On an accelerator the
torch int64 core (``_mulhilo``: 32x16-bit products, nothing overflows) covers the whole batch in one pass per
operation. Both cores give the same words (tested against the Random123 known answers).

Uniforms: word w → (w >> (32 − m)) · 2^−m with m = min(32, mantissa bits + 1 of the dtype) (24 for
float32), exactly representable, in [0, 1).

Normals (Box–Muller): words (w0, w1, w2, w3) of block b give normals 4b … 4b+3 as
r0·cos θ1, r0·sin θ1, r2·cos θ3, r2·sin θ3 with r = √(−2 ln((w + 1)·2^−32)) and θ = 2π·w·2^−32, computed in
float64 and rounded to the requested dtype. The integer stream is bit-identical everywhere; ln, cos and sin
come from the device's math library, whose float64 results can differ by an ulp between devices, which
changes a float32 value only when it lies within that distance of a rounding boundary (≈ 1e-9 per value).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from biasbench.core.fingerprint import digest

MASK32 = 0xFFFFFFFF
PHILOX_M = (0xD2511F53, 0xCD9E8D57)  # round multipliers
PHILOX_W = (0x9E3779B9, 0xBB67AE85)  # Weyl key increments
PHILOX_ROUNDS = 10
CPU_CHUNK = 1 << 14  # int64 elements per operation on a CPU: 128 KiB, so each pass stays in cache
CPU_BLOCKS = 1024  # blocks per piece on a CPU; pieces are a multiple of BLOCK_ALIGN blocks wide
BLOCK_ALIGN = 16  # so every float operation runs in whole SIMD vectors, never in a scalar tail loop

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
    """The three 32-bit words (key h0, h1; counter h2) that select the stream of (seed, *condition): a
    BLAKE2b hash of its ``repr``, computed once on the host."""
    digest = hashlib.blake2b(repr((int(seed), *condition)).encode(), digest_size=12).digest()
    return tuple(int.from_bytes(digest[4 * k : 4 * k + 4], "little") for k in range(3))  # type: ignore[return-value]


def _mulhilo(a: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """High and low 32-bit words of a·m for an int64 tensor ``a`` < 2^32 and a constant m < 2^32, from two
    32×16-bit products (each < 2^48), so nothing overflows int64. In-place on fresh tensors only."""
    high = a * (m >> 16)
    low = high & 0xFFFF
    low <<= 16
    low += a * (m & 0xFFFF)  # a·m = (high >> 16)·2^32 + low, low < 2^49
    high >>= 16
    high += low >> 32
    low &= MASK32
    return high, low


def philox4x32(
    counter: Sequence[torch.Tensor], key: Sequence[torch.Tensor | int], rounds: int = PHILOX_ROUNDS
) -> Words:
    """Philox4x32-``rounds`` on int64 tensors holding unsigned 32-bit words (broadcast against each other;
    the key may be Python ints). Returns the four output words; matches the Random123 known answers."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + PHILOX_W[0]) & MASK32, (k1 + PHILOX_W[1]) & MASK32
        hi0, lo0 = _mulhilo(c0, PHILOX_M[0])
        hi1, lo1 = _mulhilo(c2, PHILOX_M[1])
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox4x32_numpy(counter: Sequence[torch.Tensor], key: Sequence[int], rounds: int = PHILOX_ROUNDS) -> Words:
    """``philox4x32`` for CPU tensors through NumPy's uint64 arithmetic, whose wrap-around is defined, so each
    32x32-bit product is one exact multiply (about 4x fewer operations than the int64 split of ``_mulhilo``);
    the same words as ``philox4x32``."""
    c0, c1, c2, c3 = (np.broadcast_to(t.numpy(), np.broadcast_shapes(*(c.shape for c in counter))).astype(np.uint64)
                      for t in counter)  # fmt: skip
    m0, m1, shift, mask = np.uint64(PHILOX_M[0]), np.uint64(PHILOX_M[1]), np.uint64(32), np.uint64(MASK32)
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + PHILOX_W[0]) & MASK32, (k1 + PHILOX_W[1]) & MASK32
        p0, p1 = c0 * m0, c2 * m1
        c0, c1, c2, c3 = (p1 >> shift) ^ c1 ^ np.uint64(k0), p1 & mask, (p0 >> shift) ^ c3 ^ np.uint64(k1), p0 & mask
    return tuple(torch.from_numpy(c.view(np.int64)) for c in (c0, c1, c2, c3))  # type: ignore[return-value]


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


def _word_chunks(
    count: int, seed: int, indices: torch.Tensor | Sequence[int], condition: tuple, device: str | torch.device
) -> Iterator[tuple[slice, int, Words]]:
    """The first ⌈count/4⌉ blocks (padded to a multiple of ``BLOCK_ALIGN``) of each sample's stream as
    (rows, first word, the four (rows, blocks) output words): one piece on an accelerator, cache-sized
    pieces on a CPU (module docstring)."""
    device = torch.device(device)
    idx = _index_tensor(indices, device)
    blocks = -(-count // (4 * BLOCK_ALIGN)) * BLOCK_ALIGN
    if blocks > MASK32 + 1:
        raise ValueError(f"{count} words per sample exceed the 2^34 a Philox stream provides")
    h0, h1, h2 = stream_words(seed, *condition)
    index_lo, index_hi = (idx & MASK32).unsqueeze(1), (idx >> 32).unsqueeze(1)
    tag = torch.full_like(index_lo, h2)
    philox = philox4x32_numpy if device.type == "cpu" else philox4x32  # key: host constants, scalar XORs
    if device.type == "cpu":
        width, height = CPU_BLOCKS, max(1, CPU_CHUNK // CPU_BLOCKS)
    else:
        width, height = max(blocks, 1), max(len(idx), 1)
    for top in range(0, len(idx), height):
        rows = slice(top, top + height)
        for start in range(0, blocks, width):
            block = torch.arange(start, min(start + width, blocks), dtype=torch.int64, device=device).unsqueeze(0)
            yield rows, 4 * start, philox((block, index_lo[rows], index_hi[rows], tag[rows]), (h0, h1))


def _interleave(planes: Sequence[torch.Tensor]) -> torch.Tensor:
    """(N, B) planes p0 … p3 → (N, 4B) with p0[:, b], p1[:, b], p2[:, b], p3[:, b] at 4b … 4b + 3."""
    n, width = planes[0].shape
    return torch.stack(tuple(planes), dim=-1).view(n, 4 * width)


def random_words(
    count: int, seed: int, indices: torch.Tensor | Sequence[int], *condition: object, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """The first ``count`` 32-bit words (int64 values in [0, 2^32)) of each sample's stream, (N, count),
    generated on ``device``."""
    out = torch.empty((len(indices), count + (-count) % (4 * BLOCK_ALIGN)), dtype=torch.int64, device=device)
    for rows, first, words in _word_chunks(count, seed, indices, condition, device):
        out[rows, first : first + 4 * words[0].shape[1]] = _interleave(words)
    return out[:, :count]


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


def _box_muller(words: Words, dtype: torch.dtype) -> torch.Tensor:
    """Normals from one piece of words (module docstring), computed in float64, interleaved in ``dtype``."""
    normals = []
    for u, v in ((words[0], words[1]), (words[2], words[3])):
        radius = torch.sqrt(-2.0 * torch.log((u.double() + 1.0) * 2.0**-32))
        angle = (2.0 * math.pi * 2.0**-32) * v.double()
        normals += [(radius * torch.cos(angle)).to(dtype), (radius * torch.sin(angle)).to(dtype)]
    return _interleave(normals)


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
    condition), and is generated on ``device``."""
    shape = tuple(shape)
    count = math.prod(shape)
    out = torch.empty((len(indices), count + (-count) % (4 * BLOCK_ALIGN)), dtype=dtype, device=device)
    for rows, first, words in _word_chunks(count, seed, indices, condition, device):
        out[rows, first : first + 4 * words[0].shape[1]] = _box_muller(words, dtype)
    return out[:, :count].reshape(len(out), *shape)


def stream_seed(seed: int, *key: object) -> int:
    """The 63-bit seed of the random stream named ``key`` of run ``seed`` (a digest of both)."""
    return int(digest([seed, *key]), 16) % 2**63


def named_generator(seed: int, name: str) -> torch.Generator:
    """A CPU ``torch.Generator`` for the random stream ``name`` of run ``seed`` (for whole-run draws such as a
    network's initialisation or a training set, not per-sample ones).

    Streams are independent of each other, so adding a draw to one (say, a larger test set) never changes
    another (the network init), and results do not depend on the order the pieces are built in.
    """
    generator = torch.Generator()
    generator.manual_seed(stream_seed(seed, name))
    return generator


def named_rng(seed: int, *key: object) -> np.random.Generator:
    """A NumPy generator for the random stream named ``key`` (e.g. a target, a regressor and what the draws are
    for) of run ``seed``: independent of every other stream, so a number drawn from it does not depend on what
    else is computed, nor in which order."""
    return np.random.default_rng(stream_seed(seed, *key))
