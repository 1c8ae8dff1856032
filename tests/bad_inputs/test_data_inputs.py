"""Bad data inputs, one row per case: labels.csv, folder: datasets, trimmed copies, dataset names and fetch. Every
row asserts the exit status, that the message names the problem and the fix (no traceback), and that an existing
results directory is byte-identical afterwards."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from biasbench.data.catalogue.downloads import MIRROR_ENV, download_dataset
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.imagenet import imagenet_wnids
from tests.archive_server import Served, archive_server, jpeg, tar_bytes
from tests.bad_inputs.conftest import run_cli, tree_digest
from tests.conftest import TINY_MODEL, make_imagenet_sample
from tests.fixtures_layouts import tiny_image

WNIDS = imagenet_wnids()
STYLIZED = "stylized/dnn/session-1/0001_sty_dnn_0_cat_00_cat-0001.png"
TRAVERSAL = "stylized/../../../evil.sh"


@dataclass(frozen=True)
class Case:
    """``build(tmp, served, out)`` makes the bad input and returns the command line."""

    id: str
    build: Callable[[Path, Served, str], list[str]]
    exit_code: int
    problem: str  # what is wrong, as the message says it (a regular expression)
    fix: str  # what to do about it (a regular expression)


def labelled_folder(tmp: Path, lines: list[str], images: tuple[str, ...] = ("a.jpg", "b.jpg")) -> str:
    for name in images:
        tiny_image(tmp / "mine" / name)
    (tmp / "mine" / "labels.csv").write_text("\n".join(["file,label", *lines]) + "\n")
    return f"folder:{tmp / 'mine'}"


def class_folders(tmp: Path, *names: str, top_level: bool = False) -> str:
    for name in names:
        tiny_image(tmp / "mine" / name / "x.jpg")
    if top_level:
        tiny_image(tmp / "mine" / "loose.jpg")
    (tmp / "mine").mkdir(exist_ok=True)
    return f"folder:{tmp / 'mine'}"


def run(dataset: str, out: str, *extra: str) -> list[str]:
    return ["run", "-m", TINY_MODEL, "-p", "accuracy", "-d", dataset, "--out", out, *extra]


def sample_copy(tmp: Path, bad_row: str | None = None, images: int = 1000) -> str:
    """An imagenet-sample data root: ``images`` of the 1000 images present, optionally one labels.csv row replaced."""
    folder = make_imagenet_sample(tmp, count=1000, size=8)
    for path in sorted((folder / "images").iterdir())[images:]:
        path.unlink()
    if bad_row:
        lines = (folder / "labels.csv").read_text().splitlines()
        lines[1] = bad_row
        (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return str(tmp)


def first_fetch_then_change(tmp: Path, served: Served, out: str) -> list[str]:
    """stylized has no published digest: the first fetch records it; then the file changes upstream."""
    url = get_dataset_spec("stylized").downloads[0].url
    served.put(url, tar_bytes({STYLIZED: jpeg()}, gz=True))
    download_dataset("stylized", tmp, mirror=served.base, progress=False)
    served.put(url, tar_bytes({STYLIZED: jpeg(1)}, gz=True))
    return ["fetch", "stylized", "--force", "--data-root", str(tmp)]


def serve(url_of: str, body: bytes, tmp: Path, served: Served, *args: str) -> list[str]:
    served.put(get_dataset_spec(url_of).downloads[0].url, body)
    return ["fetch", url_of, *args, "--data-root", str(tmp)]


CASES = [
    Case(
        "labels-1000",
        lambda t, s, o: run(labelled_folder(t, ["a.jpg,1000", "b.jpg,1"]), o),
        2,
        r"line 2: label of 'a\.jpg': class index 1000 is outside ImageNet-1k's 0\.\.999",
        r"header line file,label",
    ),
    Case(
        "labels-minus-1",
        lambda t, s, o: run(labelled_folder(t, ["a.jpg,0", "b.jpg,-1"]), o),
        2,
        r"line 3: label of 'b\.jpg': class index -1 is outside",
        r"class index 0\.\.999 or WNID",
    ),
    Case(
        "labels-not-a-number",
        lambda t, s, o: run(labelled_folder(t, ["a.jpg,cat", "b.jpg,1"]), o),
        2,
        r"line 2: label of 'a\.jpg': 'cat' is neither an ImageNet-1k class index",
        r"'goldfish\.jpg,1' or 'goldfish\.jpg,n01443537'",
    ),
    Case(
        "labels-duplicate-file",
        lambda t, s, o: run(labelled_folder(t, ["a.jpg,1", "b.jpg,2", "a.jpg,7"]), o),
        2,
        r"lines 2 and 4 both list 'a\.jpg' \(labels 1 and 7\)",
        r"keep one line per file",
    ),
    Case(
        "labels-listed-but-missing",
        lambda t, s, o: run(labelled_folder(t, ["a.jpg,1", "b.jpg,2", "gone.jpg,3"]), o),
        2,
        r"lists 1 file\(s\) that are missing: line 4: gone\.jpg",
        r"every line an existing image",
    ),
    Case(
        "labels-present-but-unlisted",
        lambda t, s, o: run(labelled_folder(t, ["a.jpg,1"], ("a.jpg", "b.jpg")), o),
        2,
        r"1 image\(s\) under .* are not listed in labels\.csv: b\.jpg",
        r"move the extra images out",
    ),
    Case(
        "sample-labels-1000",
        lambda t, s, o: run("imagenet-sample", o, "--data-root", sample_copy(t, "n00000000_class0.JPEG,n0,1000")),
        2,
        r"labels\.csv has 1 problem\(s\): line 2: label of 'n00000000_class0\.JPEG': class index 1000 is outside",
        r"filename,class_index \(the ImageNet-1k index 0\.\.999\)",
    ),
    Case(
        "trimmed-copy-without-partial",
        lambda t, s, o: run("imagenet-sample", o, "--data-root", sample_copy(t, images=3)),
        2,
        r"lists 997 file\(s\) that are missing: line 5: n00000003_class3\.JPEG",
        r"--partial \(Python: partial=True\) or --limit N",
    ),
    Case(
        "folder-does-not-exist",
        lambda t, s, o: run(f"folder:{t / 'nowhere'}", o),
        2,
        r"image folder .*nowhere does not exist",
        r"Give the path of a folder laid out as",
    ),
    Case("folder-empty-path", lambda t, s, o: run("folder:", o), 2, r"needs a path", r"--dataset folder:~/my-images"),
    Case(
        "folder-no-images",
        lambda t, s, o: run(class_folders(t), o),
        2,
        r"contains no images",
        r"Expected layout: PATH/<wnid>/<image>",
    ),
    Case(
        "folder-wnid-and-index-folders",
        lambda t, s, o: run(class_folders(t, WNIDS[3], "7"), o),
        2,
        r"mixes class folders named by WNID \('n01491361'\) and by class index \('7'\)",
        r"name them all one way",
    ),
    Case(
        "folder-top-level-and-class-folders",
        lambda t, s, o: run(class_folders(t, WNIDS[3], top_level=True), o),
        2,
        r"mixes images at its top level \('loose\.jpg'\) with class folders",
        r"Move the top-level images into class folders, or list every image in a labels\.csv",
    ),
    Case(
        "folder-unlabelled-images",
        lambda t, s, o: run(class_folders(t, top_level=True), o),
        2,
        r"has 1 images but no labels",
        r"add a labels\.csv \(file,label\)",
    ),
    Case(
        "folder-unknown-class-names",
        lambda t, s, o: run(class_folders(t, "cats", "dogs"), o),
        2,
        r"'cats', 'dogs' are neither",
        r"Rename them, or list the images in a labels\.csv",
    ),
    Case(
        "dataset-name-typo",
        lambda t, s, o: run("imagenet-sampel", o),
        2,
        r"unknown dataset 'imagenet-sampel'\. Did you mean 'imagenet-sample'",
        r"folder:PATH measures your own image folder",
    ),
    Case(
        "fetch-unknown-name",
        lambda t, s, o: ["fetch", "imagenet-sketchh", "--data-root", str(t)],
        2,
        r"unknown dataset 'imagenet-sketchh'\. Did you mean 'imagenet-sketch'",
        r"`biasbench datasets` lists them",
    ),
    Case(
        "fetch-without-public-archive",
        lambda t, s, o: ["fetch", "imagenet-val", "--data-root", str(t)],
        2,
        r"dataset 'imagenet-val' has no public download",
        r"log in at image-net\.org",
    ),
    Case(
        "fetch-unknown-part",
        lambda t, s, o: ["fetch", "imagenet-c", "--part", "fog", "--data-root", str(t)],
        2,
        r"unknown imagenet-c part 'fog'",
        r"Known imagenet-c parts: blur, digital, extra, noise, weather",
    ),
    Case(
        "fetch-digest-changed-upstream",
        first_fetch_then_change,
        1,
        r"checksum mismatch for .*stylized\.tar\.gz: expected sha256",
        r"delete its entry there to record the new one",
    ),
    Case(
        "fetch-path-traversal-member",
        lambda t, s, o: serve(
            "stylized", tar_bytes({STYLIZED: jpeg(), "stylized/../../../evil.sh": b"rm -rf ~"}), t, s
        ),
        1,
        r"archive member 'stylized/\.\./\.\./\.\./evil\.sh' points outside the target directory",
        r"Nothing was extracted and the archive was removed",
    ),
    Case(
        "fetch-web-page-instead-of-archive",
        lambda t, s, o: serve("imagenet-sketch", b"<!DOCTYPE html><html>Sign in</html>", t, s),
        1,
        r"returned a web page instead of the file",
        r"by hand \(a browser works\) and place it at",
    ),
    Case(
        "datasets-folder-does-not-exist",
        lambda t, s, o: ["datasets", f"folder:{t / 'nowhere'}"],
        0,
        r"missing .*does not exist",
        r"Give the path of a folder",
    ),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory, generated_root) -> Path:
    """A results directory with one finished job, which no bad input may touch."""
    out = tmp_path_factory.mktemp("results") / "res"
    done = run_cli(*run("imagenet-sample", str(out), "--limit", "4", "--data-root", str(generated_root)))
    assert done.exit_code == 0, done.output
    return out


@pytest.fixture(scope="module")
def served():
    with archive_server() as (_, served):
        yield served


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_data_input(case, results, served, tmp_path):
    before = tree_digest(results)
    args = case.build(tmp_path, served, str(results))
    result = run_cli(*args, env={MIRROR_ENV: served.base})
    text = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == case.exit_code, result.output
    assert "Traceback" not in result.output
    assert re.search(case.problem, text), text
    assert re.search(case.fix, text), text
    assert tree_digest(results) == before
    assert not (tmp_path.parent.parent / "evil.sh").exists() and not list(tmp_path.rglob("evil.sh"))


def test_every_row_id_is_unique_and_lock_untouched_by_refusals(tmp_path, served):
    assert len({c.id for c in CASES}) == len(CASES)
    args = first_fetch_then_change(tmp_path, served, "")
    lock = (tmp_path / "downloads.lock.json").read_text()
    assert run_cli(*args, env={MIRROR_ENV: served.base}).exit_code == 1
    assert (tmp_path / "downloads.lock.json").read_text() == lock  # the recorded digest still guards the file
    assert json.loads(lock)["files"]
