"""Bad input to ``run``, ``results``, ``report`` and ``verify``, one row per case (issue 21): options out of range,
odd images, unwritable or unreadable paths, models that cannot load, damaged results directories.

Every row asserts the exit status, that the output names the problem (a regular expression), that no traceback
is shown, and that the existing results directory (``Env.results``, a copy of a finished one) is byte-identical
afterwards, or, for the rows that damage it, that the next run repaired it to the same shards."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.bad_inputs.conftest import CliResult, copy_tree, run_args, run_cli, tree_digest
from tests.conftest import TINY_MODEL

SECOND_IMAGE = "imagenet-sample-images/images/n00000001_class1.JPEG"  # 2nd in canonical order: in --limit 4 first


@dataclass
class Env:
    """The paths a case works with."""

    data: Path  # generated data root (imagenet-sample + cue-conflict)
    good: Path  # a finished results directory (never touched)
    results: Path  # the existing results: a copy of ``good`` that the case must leave alone (or damages)
    out: Path  # a fresh, absent results directory
    tmp: Path
    checkpoints: dict[str, Path]

    def variant(self, relative: str, write: Callable[[Path], None]) -> Path:
        """A data root like ``data`` with the file ``relative`` replaced by what ``write`` writes."""
        root = copy_tree(self.data, self.tmp / "variant")
        (root / relative).unlink()
        write(root / relative)
        return root

    def job(self, probe: str) -> str:
        """The key of ``probe``'s job in the existing results."""
        return next(k for k, m in _manifests(self.results).items() if m["probe"] == probe)


def _manifests(results: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (results / "jobs").glob("*.json")}


def _shards(results: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(results / "jobs").items() if k.endswith(".parquet")}


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Env], list[str]]
    exit_code: int
    message: str  # a regular expression the output must contain (whitespace-normalised)
    prepare: Callable[[Env], None] | None = None
    deny: Callable[[Env], tuple[Path, int]] | None = None  # (path, mode) enforced while the command runs
    after: Callable[[Env, CliResult], None] | None = None  # further checks
    repairs: bool = False  # the case damages ``results`` and the command repairs it
    umask: int | None = None
    env: dict[str, str] = field(default_factory=dict)


def run(env: Env, *extra: str, models: tuple[str, ...] = (), out: Path | None = None) -> list[str]:
    """``run`` of accuracy and shape-bias on 4 images (the first 4: the variants' odd image is the 2nd)."""
    args = run_args(env.data, out or env.out, *models)
    return [*args, "--limit", "4", "--limit-mode", "first", *extra]


def on(env: Env, root: Path, *extra: str) -> list[str]:
    """``run`` of accuracy on the first 4 images of imagenet-sample under the data root ``root``."""
    base = ["run", "-m", TINY_MODEL, "-p", "accuracy", "--data-root", str(root), "--out", str(env.out)]
    return [*base, "--limit", "4", "--limit-mode", "first", *extra]


def shape_bias(env: Env, *extra: str) -> list[str]:
    """``run`` of shape-bias (cue-conflict) into a fresh directory."""
    return ["run", "-m", TINY_MODEL, "-p", "shape-bias", "--data-root", str(env.data), "--out", str(env.out), *extra]


def into_results(env: Env, *extra: str) -> list[str]:
    """``run`` into the existing results with the options that wrote them (their jobs are found done)."""
    return [*run_args(env.data, env.results), "--limit", "8", *extra]


def write_16_bit(path: Path) -> None:
    Image.fromarray(np.full((64, 64), 32768, np.uint16)).save(path, format="PNG")  # mid grey, 16 bits


def truncate(relative: Callable[[Env], str]) -> Callable[[Env], None]:
    def damage(env: Env) -> None:
        path = env.results / "jobs" / relative(env)
        path.write_bytes(path.read_bytes()[:100])

    return damage


def bad_manifest(env: Env) -> None:
    (env.results / "jobs" / f"{env.job('accuracy')}.json").write_text('{"job": "trunc')


def missing_shard(env: Env) -> None:
    (env.results / "jobs" / f"{env.job('accuracy')}.records.parquet").unlink()


def records_of(probe: str) -> Callable[[Env], str]:
    return lambda env: f"{env.job(probe)}.records.parquet"


def samples_of(probe: str) -> Callable[[Env], str]:
    return lambda env: f"{env.job(probe)}.samples.parquet"


def repaired(env: Env, result: CliResult) -> None:
    """The damaged job was computed again: the same shards as the good directory, and every job intact."""
    assert _shards(env.results) == _shards(env.good)
    assert run_cli("verify", str(env.results)).exit_code == 0


def one_good_model_ran(env: Env, result: CliResult) -> None:
    assert re.search(r"2 job\(s\) run, 0 skipped \(already done\), 2 failed", flat(result.output))
    assert {m["model"] for m in _manifests(env.out).values()} == {TINY_MODEL}


def decoded_mid_grey(env: Env, result: CliResult) -> None:
    from biasbench.data.pixels.images import decode_rgb

    assert np.asarray(decode_rgb(env.tmp / "variant" / SECOND_IMAGE)).mean() == 128.0  # was 255 (all white)


def covers_all_16(env: Env, result: CliResult) -> None:
    job = next(k for k, m in _manifests(env.out).items() if m["probe"] == "shape-bias")
    labels = pd.read_parquet(env.out / "jobs" / f"{job}.samples.parquet")["label"]
    assert sorted(labels) == list(range(16)) and _manifests(env.out)[job]["limit_mode"] == "balanced"
    assert "rests on" not in result.output


def first_n_says_so(env: Env, result: CliResult) -> None:
    records = pd.read_parquet(next((env.out / "jobs").glob("*.records.parquet")))
    assert set(records["caveat"]) == {"rests on 1 of the 16 classes of cue-conflict (--limit 16, first)"}


def modes_follow_umask(env: Env, result: CliResult) -> None:
    assert {oct(p.stat().st_mode & 0o777) for p in (env.out / "jobs").iterdir()} == {"0o644"}


def skipped_the_strip(env: Env, result: CliResult) -> None:
    manifest = json.loads(next((env.out / "jobs").glob("*.json")).read_text())
    assert [Path(f).name for f in manifest["skipped_files"]] == ["n00000001_class1.JPEG"]


def verify_repair_then_run(env: Env, result: CliResult) -> None:
    assert len(_manifests(env.results)) == 1  # the damaged job is gone, the intact one kept
    again = run_cli(*into_results(env))
    assert again.exit_code == 0 and "1 job(s) run, 1 skipped" in flat(again.output)
    repaired(env, again)


def unloadable(name: str, checkpoint: str, arch: str, message: str) -> Case:
    """A ``file:`` model that cannot load (checkpoint ``none``: a path that does not exist) listed before the
    tiny model: its jobs fail with ``message``, the tiny model's run."""

    def args(env: Env) -> list[str]:
        path = env.checkpoints.get(checkpoint, env.tmp / f"{checkpoint}.safetensors")
        return run(env, models=(f"file:{path}?arch={arch}", TINY_MODEL))

    return Case(name, args, 1, message, after=one_good_model_ran)


def damaged(name: str, damage: Callable[[Env], None], problem: str) -> list[Case]:
    """The rows of one kind of damage: ``results`` and ``report`` leave the job out with a warning naming the
    file (and change nothing), and the next ``run`` with the same options computes it again."""
    return [
        Case(
            f"{name}-results",
            lambda e: ["results", str(e.results)],
            0,
            rf"warning: job \w+ left out: .*{problem}",
            prepare=damage,
        ),
        Case(
            f"{name}-report",
            lambda e: ["report", str(e.results), "--out", str(e.tmp / "r.html"), "--n-boot", "10"],
            0,
            rf"warning: job \w+ left out: .*{problem}",
            prepare=damage,
        ),
        Case(
            f"{name}-rerun",
            into_results,
            0,
            rf"is damaged \(.*{problem}.*\); computing it again",
            prepare=damage,
            repairs=True,
            after=repaired,
        ),
    ]


CASES = [
    # 1. options are checked when the plan is made, before any model loads; nothing is written
    Case("limit-negative", lambda e: into_results(e, "--limit", "-1"), 2, r"invalid option --limit: got -1"),
    Case("limit-zero", lambda e: into_results(e, "--limit", "0"), 2, r"invalid option --limit: got 0"),
    Case(
        "bootstrap-reps-negative",
        lambda e: into_results(e, "--set", "shape-bias.bootstrap_reps=-5"),
        2,
        r"--set shape-bias.bootstrap_reps: got -5: input should be greater than or equal to 0",
    ),
    Case(
        "unknown-parameter",
        lambda e: into_results(e, "--set", "shape-bias.bootstrap_rep=5"),
        2,
        r"--set shape-bias.bootstrap_rep: unknown; did you mean 'bootstrap_reps'",
    ),
    Case(
        "parameter-type",
        lambda e: into_results(e, "--set", "shape-bias.bootstrap_reps=2.5"),
        2,
        r"bootstrap_reps: got 2.5: input should be a valid integer",
    ),
    Case("workers-negative", lambda e: into_results(e, "--workers", "-2"), 2, r"--workers: got -2"),
    Case("batch-size-zero", lambda e: into_results(e, "--batch-size", "0"), 2, r"--batch-size: got 0"),
    Case("seed-negative", lambda e: into_results(e, "--seed", "-1"), 2, r"--seed: got -1"),
    Case("device-typo", lambda e: into_results(e, "--device", "cpux"), 2, r"--device: got 'cpux': use cpu, cuda"),
    Case("amp-on-cpu", lambda e: into_results(e, "--device", "cpu", "--amp"), 2, r"--amp is mixed precision on CUDA"),
    Case("limit-mode-unknown", lambda e: into_results(e, "--limit-mode", "random"), 2, r"--limit-mode: got 'random'"),
    Case(
        "limit-mode-without-limit",
        lambda e: [*run_args(e.data, e.results), "--limit-mode", "first"],
        2,
        r"--limit-mode says how --limit samples; give --limit N too",
    ),
    Case("address-without-ray", lambda e: into_results(e, "--address", "h:6379"), 2, r"--address .* --executor ray"),
    Case("on-corrupt-typo", lambda e: into_results(e, "--on-corrupt", "ignore"), 2, r"--on-corrupt: got 'ignore'"),
    Case(
        "corruption-severity",
        lambda e: [*into_results(e), "-p", "corruption", "--set", "corruption.severities=[0,3]"],
        2,
        r"--set corruption.severities\[0\]: got 0",
    ),
    Case(
        "out-is-a-file",
        lambda e: run(e, out=e.tmp / "a-file"),
        2,
        r"a-file is a file, not a directory",
        prepare=lambda e: (e.tmp / "a-file").write_text(""),
    ),
    Case(
        "out-under-a-file",
        lambda e: run(e, out=e.tmp / "a-file" / "res"),
        2,
        r"a-file is a file",
        prepare=lambda e: (e.tmp / "a-file").write_text(""),
    ),
    Case(
        "out-read-only",
        lambda e: run(e, out=e.tmp / "ro" / "res"),
        2,
        r"--out .*ro/res: cannot create files in .*ro \(Permission denied\); choose a directory you can write",
        prepare=lambda e: (e.tmp / "ro").mkdir(),
        deny=lambda e: (e.tmp / "ro", 0o555),
    ),
    Case(
        "out-read-only-results",
        lambda e: run(e, out=e.results),
        2,
        r"cannot create files in .*results/jobs \(Permission denied\)",
        deny=lambda e: (e.results / "jobs", 0o555),
    ),
    # 2. images: decoded by their mode, odd sizes refused by name
    Case(
        "png-16-bit",
        lambda e: on(e, e.variant(SECOND_IMAGE, write_16_bit)),
        0,
        r"1 job\(s\) run, 0 skipped \(already done\), 0 failed",
        after=decoded_mid_grey,
    ),
    Case(
        "image-1x1",
        lambda e: on(e, e.variant(SECOND_IMAGE, lambda p: Image.new("RGB", (1, 1)).save(p, format="PNG"))),
        1,
        r"n00000001_class1.JPEG: 1x1 px is below the minimum of 8 px on a side.*--on-corrupt skip",
    ),
    Case(
        "image-10000x10",
        lambda e: on(e, e.variant(SECOND_IMAGE, lambda p: Image.new("RGB", (10000, 10)).save(p, format="PNG"))),
        1,
        r"n00000001_class1.JPEG: 10000x10 px has an aspect ratio above 20:1",
    ),
    Case(
        "image-10000x10-skipped",
        lambda e: on(
            e,
            e.variant(SECOND_IMAGE, lambda p: Image.new("RGB", (10000, 10)).save(p, format="PNG")),
            "--on-corrupt",
            "skip",
        ),
        0,
        r"1 job\(s\) run",
        after=skipped_the_strip,
    ),
    Case(
        "images-folder-unreadable",
        lambda e: on(e, copy_tree(e.data, e.tmp / "unreadable")),
        2,
        r"permission denied: .*imagenet-sample-images/images.*Give your user access",
        deny=lambda e: (e.tmp / "unreadable" / "imagenet-sample-images" / "images", 0o000),
    ),
    # 3. --limit samples the classes
    Case(
        "limit-on-cue-conflict",
        lambda e: shape_bias(e, "--limit", "16"),
        0,
        r"shape_bias",
        after=covers_all_16,
    ),
    Case(
        "limit-first-on-cue-conflict",
        lambda e: shape_bias(e, "--limit", "16", "--limit-mode", "first"),
        0,
        r"note: rests on 1 of the 16 classes of cue-conflict \(--limit 16, first\)",
        after=first_n_says_so,
    ),
    # 4. a model that cannot load fails its own jobs; the good model after it runs; status 1 and a summary
    unloadable(
        "checkpoint-missing",
        "none",
        "test_resnet",
        r"failed file:.*none.safetensors\?arch=test_resnet \(2 jobs\): cannot load model .* does not exist",
    ),
    unloadable(
        "checkpoint-truncated",
        "truncated",
        "test_resnet",
        r"cannot read .*truncated.safetensors as safetensors .* truncated or in another format",
    ),
    unloadable("checkpoint-html", "html", "test_resnet", r"html.safetensors is a web page, not a checkpoint"),
    unloadable(
        "arch-typo-then-good-model",
        "good",
        "test_resnett",
        r"unknown timm model 'test_resnett'. Did you mean 'test_resnet'",
    ),
    # 6. results and report on what is not a results directory
    Case(
        "report-empty-dir",
        lambda e: ["report", str(e.tmp / "empty")],
        2,
        r"holds no finished jobs; run `biasbench run",
        prepare=lambda e: (e.tmp / "empty").mkdir(),
    ),
    Case("report-missing-dir", lambda e: ["report", str(e.tmp / "nothere")], 2, r"no results directory at .*nothere"),
    Case("results-missing-dir", lambda e: ["results", str(e.tmp / "nothere")], 2, r"no results directory at .*nothere"),
    Case("results-format", lambda e: ["results", str(e.results), "--format", "xml"], 2, r"unknown format 'xml'"),
    # 5. damaged results: left out by file with a warning, re-run by the next run, listed and removed by verify
    *damaged(
        "records-truncated", truncate(records_of("accuracy")), r"records.parquet: 100 bytes, the manifest recorded"
    ),
    *damaged("samples-truncated", truncate(samples_of("shape-bias")), r"samples.parquet: 100 bytes"),
    *damaged("manifest-bad", bad_manifest, r"\.json: manifest unreadable \(JSONDecodeError"),
    *damaged("shard-missing", missing_shard, r"records.parquet: missing \(the manifest lists it\)"),
    Case(
        "verify-damaged",
        lambda e: ["verify", str(e.results)],
        1,
        r"damaged job \w+: .*records.parquet: 100 bytes.*--repair",
        prepare=truncate(records_of("accuracy")),
    ),
    Case(
        "verify-repair",
        lambda e: ["verify", str(e.results), "--repair"],
        0,
        r"removed 3 file\(s\)",
        prepare=truncate(records_of("accuracy")),
        repairs=True,
        after=verify_repair_then_run,
    ),
    # 5. files honour the umask
    Case("umask-022", lambda e: run(e), 0, r"2 job\(s\) run", umask=0o022, after=modes_follow_umask),
]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, data, good_results, checkpoints, denied, tmp_path):
    env = Env(
        data, good_results, copy_tree(good_results, tmp_path / "results"), tmp_path / "out", tmp_path, checkpoints
    )
    for path in (env.results / "jobs").iterdir():  # the copy's own files (not links), so `good` stays intact
        content = path.read_bytes()
        path.unlink()
        path.write_bytes(content)
    if case.prepare:
        case.prepare(env)
    args = case.args(env)
    before = tree_digest(env.results)
    old_umask = os.umask(case.umask) if case.umask is not None else None
    try:
        if case.deny:
            with denied(*case.deny(env)):
                result = run_cli(*args, env=case.env)
        else:
            result = run_cli(*args, env=case.env)
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    output = flat(result.output)
    assert result.exit_code == case.exit_code, result.output
    assert re.search(case.message, output), result.output
    assert "Traceback" not in result.output
    if not case.repairs:
        assert tree_digest(env.results) == before  # existing results are byte-identical afterwards
    if case.after:
        case.after(env, result)
