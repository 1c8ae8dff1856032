"""benchmarks/gpu_check.py cannot rot: its CPU-against-CPU dry run passes on a tiny random model and generated
images (every check agrees exactly), and a forced disagreement makes it exit 1."""

from __future__ import annotations

import importlib.util
import sys
import warnings

import pytest

from tests.conftest import REPO, TINY_MODEL


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("gpu_check", None)


def _argv(root, tmp_path):
    return [
        "--device",
        "cpu",
        "--compare-device",
        "cpu",
        "--dry-run",
        "--models",
        TINY_MODEL,
        "--data-root",
        str(root),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]


@pytest.mark.slow
def test_cpu_dry_run_passes_and_prints_one_table(gpu_check, generated_root, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "AMP is only used on CUDA"
        assert gpu_check.main(_argv(generated_root, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "all" in out and "checks passed" in out and "FAIL" not in out
    for what in (
        "pure forward",
        *gpu_check.PROBE_PARAMS,
        "stimulus spectral/lowpass/0.3",
        "PGD first step",
        "amp vs fp32: top-1 agreement",
        "channels-last vs fp32: |Δ shape bias|",
    ):
        assert what in out


def test_a_disagreement_exits_1(gpu_check, generated_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "LOGIT_TOL", -1.0)  # no difference can pass
    monkeypatch.setattr(gpu_check, "stimulus_checks", lambda *a: [])  # (covered above; keep this test short)
    monkeypatch.setattr(gpu_check, "throughput", lambda *a: [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gpu_check.main(_argv(generated_root, tmp_path)) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cuda_without_a_gpu_is_a_clear_error(gpu_check, generated_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    argv = _argv(generated_root, tmp_path)
    argv[1] = "cuda"
    assert gpu_check.main(argv) == 2
    assert "--device cpu --dry-run" in capsys.readouterr().err
