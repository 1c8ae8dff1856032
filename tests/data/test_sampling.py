"""``--limit``: a seeded sample balanced over the classes (or the first N by name), its caveat and its job key."""

from __future__ import annotations

from collections import Counter

import pytest

from biasbench.data.datasets import get_dataset_spec
from biasbench.data.pixels.sampling import Limited, balanced_indices, limited
from biasbench.run.plan import ModelRef, build_probes, job_key, plan_jobs, previous_job_key
from tests.conftest import TINY_MODEL


def test_balanced_indices_spread_evenly_and_are_seeded():
    strata = [c for c in range(16) for _ in range(80)]  # cue-conflict: 16 classes x 80, stored class by class
    for n in (16, 40, 100):
        chosen = balanced_indices(strata, n, seed=0)
        counts = Counter(strata[i] for i in chosen)
        assert len(chosen) == n == len(set(chosen)) and chosen == sorted(chosen)
        assert max(counts.values()) - min(counts.values()) <= 1 and (n < 16 or len(counts) == 16)
    assert balanced_indices(strata, 40, seed=0) == balanced_indices(strata, 40, seed=0)
    assert balanced_indices(strata, 40, seed=1) != balanced_indices(strata, 40, seed=0)
    assert balanced_indices(strata, 40, seed=0, stream="other") != balanced_indices(strata, 40, seed=0)


def test_a_small_class_gives_its_share_to_the_others():
    strata = ["a"] + ["b"] * 10 + ["c"] * 10
    counts = Counter(strata[i] for i in balanced_indices(strata, 12, seed=3))
    assert counts["a"] == 1 and sorted((counts["b"], counts["c"])) == [5, 6]
    assert balanced_indices(strata, 50, seed=3) == list(range(21))  # more than there is: everything


def test_limit_on_cue_conflict_covers_every_category(generated_root):
    full = get_dataset_spec("cue-conflict").load(generated_root)
    balanced = limited(full, 16, "balanced", seed=0)
    assert isinstance(balanced, Limited) and len(balanced) == 16 and balanced.mode == "balanced"
    assert sorted(s.label for s in balanced.samples) == list(range(16)) and balanced.caveat == ""
    assert [s.path for s in balanced.samples] == sorted(s.path for s in balanced.samples)  # canonical order kept
    first = limited(full, 16, "first", seed=0)
    assert {s.label for s in first.samples} == {0} and first.samples == full.samples[:16]  # 16 airplanes
    assert first.caveat == "rests on 1 of the 16 classes of cue-conflict (--limit 16, first)"
    assert (
        limited(full, 8, "balanced", seed=0).caveat
        == "rests on 8 of the 16 classes of cue-conflict (--limit 8, balanced)"
    )
    assert limited(full, 5000, "balanced") is full and limited(full, None) is full


def test_video_sets_are_cut_first():
    spec = get_dataset_spec("imagenet-vid-robust")
    assert not spec.limit_by_class and get_dataset_spec("cue-conflict").limit_by_class


def test_job_keys_name_a_balanced_sample_and_keep_first_n_keys(generated_root):
    probes = build_probes(["accuracy"], {})
    ref = [ModelRef(TINY_MODEL, spec=TINY_MODEL)]
    plan = {
        mode: plan_jobs(ref, probes, [], data_root=generated_root, limit=10, limit_mode=mode)[0][0]
        for mode in ("balanced", "first")
    }
    first = plan["first"]
    parts = {  # of a --limit 10 job as biasbench keyed it before balanced samples: unchanged for mode first
        "model_fingerprint": first.model_fingerprint,
        "preprocess": ref[0].preprocess(),
        "dataset_fingerprint": first.dataset_fingerprint,
        "probe": "accuracy",
        "version": probes[0].version,
        "params": first.params,
        "seed": 0,
        "precision": "fp32",
    }
    assert first.key == job_key(**parts) and plan["balanced"].key != job_key(**parts)
    assert first.previous_key == previous_job_key(first.model, **parts) != plan["balanced"].previous_key
    assert plan["balanced"].limit_mode == "balanced" and first.limit_mode == "first"
    again = plan_jobs(ref, probes, [], data_root=generated_root, limit=10, seed=1)[0][0]
    assert again.dataset_fingerprint != plan["balanced"].dataset_fingerprint  # the seed draws another sample


@pytest.mark.parametrize(
    "bad", [{"limit": 0}, {"limit": -1}, {"limit": 5, "limit_mode": "random"}, {"limit_mode": "first"}]
)
def test_bad_limits_are_refused(generated_root, bad):
    from biasbench.core.errors import ParameterError

    with pytest.raises(ParameterError, match="--limit"):
        plan_jobs(
            [ModelRef(TINY_MODEL, spec=TINY_MODEL)], build_probes(["accuracy"], {}), [], data_root=generated_root, **bad
        )
