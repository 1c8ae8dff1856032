"""The counter-based per-sample generator (core/rng.py): Philox4x32-10 known answers, the documented
uniform and Box–Muller transforms, batch-size / thread independence, and the distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from biasbench.core.rng import philox4x32, philox4x32_numpy, random_words, seeded_rand, seeded_randn

# Random123 kat_vectors, philox4x32 with 10 rounds: (counter, key) -> output
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_philox4x32_10_matches_the_random123_known_answers(counter, key, expected):
    t = lambda v: torch.tensor([v], dtype=torch.int64)  # noqa: E731
    out = philox4x32([t(c) for c in counter], [t(k) for k in key])
    assert tuple(int(w) for w in out) == expected
    assert tuple(int(w) for w in philox4x32_numpy([t(c) for c in counter], key)) == expected  # the CPU core


def test_cpu_numpy_core_equals_the_torch_core_on_random_counters():
    g = torch.Generator().manual_seed(0)
    block = torch.randint(0, 2**32, (1, 257), generator=g, dtype=torch.int64)
    rest = [torch.randint(0, 2**32, (5, 1), generator=g, dtype=torch.int64) for _ in range(3)]
    key = (0xA4093822, 0xFFFFFFFF)
    for a, b in zip(philox4x32([block, *rest], key), philox4x32_numpy([block, *rest], key), strict=True):
        assert torch.equal(a, b)


def test_cpu_chunking_does_not_change_the_draws(monkeypatch):
    from biasbench.core import rng

    whole = (random_words(999, 4, [3, 8], "k"), seeded_randn((3, 333), 4, [3, 8], "k"))
    monkeypatch.setattr(rng, "CPU_CHUNK", 32)  # pieces of 1 row x 32 blocks, 8 per row
    monkeypatch.setattr(rng, "CPU_BLOCKS", 32)
    assert torch.equal(random_words(999, 4, [3, 8], "k"), whole[0])
    assert torch.equal(seeded_randn((3, 333), 4, [3, 8], "k"), whole[1])


def test_normals_follow_the_documented_box_muller_transform():
    words = random_words(8, 3, [7, 2], "doc").numpy().astype(np.float64)
    radius = np.sqrt(-2 * np.log((words[:, 0::2] + 1) / 2.0**32))
    angle = 2 * np.pi * words[:, 1::2] / 2.0**32
    expected = np.stack([radius * np.cos(angle), radius * np.sin(angle)], -1).reshape(2, 8)
    got = seeded_randn((2, 3), 3, [7, 2], "doc", dtype=torch.float64).reshape(2, 6).numpy()
    np.testing.assert_allclose(got, expected[:, :6], rtol=1e-14, atol=1e-14)


def test_uniforms_are_the_top_word_bits_in_zero_one():
    words = random_words(5, 1, [0, 9], "u")
    u32 = seeded_rand((5,), 1, [0, 9], "u")
    u64 = seeded_rand((5,), 1, [0, 9], "u", dtype=torch.float64)
    assert torch.equal(u32.double(), (words >> 8).double() / 2**24)
    assert torch.equal(u64, words.double() / 2**32)
    many = seeded_rand((100_000,), 0, [0], "u")
    assert many.min() >= 0 and many.max() < 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("draw", [seeded_randn, seeded_rand])
def test_bit_identical_at_any_batch_size_and_thread_count(draw, dtype):
    idx = torch.arange(1000, 1064)
    shape = (3, 1111)  # 833.25 blocks per sample: ragged pieces, several per row on a CPU
    full = draw(shape, 11, idx, "cbm", 0.16, 3, dtype=dtype)
    assert full.shape == (64, *shape) and full.dtype == dtype
    for lo, hi in ((0, 1), (5, 12), (57, 64)):  # batches of 1, 7 and the tail
        assert torch.equal(draw(shape, 11, idx[lo:hi], "cbm", 0.16, 3, dtype=dtype), full[lo:hi])
    shuffled = torch.tensor([1063, 1000, 1031])
    assert torch.equal(draw(shape, 11, shuffled, "cbm", 0.16, 3, dtype=dtype), full[[63, 0, 31]])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.equal(draw(shape, 11, idx, "cbm", 0.16, 3, dtype=dtype), full)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_generated_on_the_device_equal_to_cpu():
    idx = torch.arange(20)
    cpu = seeded_randn((3, 16, 16), 0, idx, "x")
    gpu = seeded_randn((3, 16, 16), 0, idx.cuda(), "x", device="cuda")
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-6)  # ulp-level libm differences at most
    assert torch.equal(random_words(64, 0, idx.cuda(), "x", device="cuda").cpu(), random_words(64, 0, idx, "x"))


def test_normal_moments_and_kolmogorov_smirnov():
    z = seeded_randn((25_000,), 2024, torch.arange(8), "dist").double().flatten()
    n = z.numel()
    assert abs(float(z.mean())) < 5 / math.sqrt(n)
    assert abs(float(z.var()) - 1) < 5 * math.sqrt(2 / n)
    assert abs(float((z**3).mean())) < 5 * math.sqrt(15 / n)  # skewness
    assert abs(float((z**4).mean()) - 3) < 5 * math.sqrt(96 / n)  # kurtosis
    assert stats.kstest(z.numpy(), "norm").pvalue > 0.01
    u = seeded_rand((25_000,), 2024, torch.arange(8), "dist", dtype=torch.float64).flatten()
    assert stats.kstest(u.numpy(), "uniform").pvalue > 0.01


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((0, [0], ("c", 0.16, 3)), (0, [1], ("c", 0.16, 3))),  # adjacent indices
        ((0, [5], ("c", 0.16, 3)), (0, [5], ("c", 0.16, 4))),  # adjacent conditions
        ((0, [5], ("redraw", 0)), (0, [5], ("redraw", 1))),  # adjacent repair rounds
        ((0, [5], ("c",)), (1, [5], ("c",))),  # adjacent seeds
        ((0, [2**32 + 5], ("c",)), (0, [5], ("c",))),  # indices equal in their low word
    ],
)
def test_neighbouring_streams_are_uncorrelated(a, b):
    n = 100_000
    za = seeded_randn((n,), a[0], a[1], *a[2]).double().flatten()
    zb = seeded_randn((n,), b[0], b[1], *b[2]).double().flatten()
    assert abs(float(torch.corrcoef(torch.stack([za, zb]))[0, 1])) < 5 / math.sqrt(n)
    lag = torch.corrcoef(torch.stack([za[:-1], za[1:]]))[0, 1]  # neighbouring values within a stream
    assert abs(float(lag)) < 5 / math.sqrt(n)


def test_bad_indices_are_rejected():
    with pytest.raises(ValueError, match="non-negative"):
        seeded_randn((2,), 0, [-1], "x")
    with pytest.raises(ValueError, match="1-D"):
        seeded_randn((2,), 0, torch.zeros(2, 2, dtype=torch.int64), "x")
    assert seeded_randn((2, 3), 0, [], "x").shape == (0, 2, 3)
