"""``--dataset folder:PATH``: your own images in class folders (WNID or index) or with a labels.csv, the same
validation, job keys and decoded-image cache as the built-in datasets, from the API and the command line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import biasbench
from biasbench.cli import app
from biasbench.core.errors import DatasetError
from biasbench.data.datasets import canonical_dataset_name, get_dataset_spec
from biasbench.data.labels.imagenet import imagenet_wnids
from biasbench.engine.inference import EngineConfig
from tests.conftest import TINY_MODEL
from tests.fixtures_layouts import tiny_image

runner = CliRunner()
WNIDS = imagenet_wnids()


def load(path):
    return get_dataset_spec(f"folder:{path}").load()


def test_wnid_class_folders(tmp_path):
    for wnid in (WNIDS[7], WNIDS[1]):
        for k in range(2):
            tiny_image(tmp_path / wnid / f"{k}.jpg")
    (tmp_path / "README.txt").write_text("not an image")
    ds = load(tmp_path)
    assert [(s.path.relative_to(tmp_path).as_posix(), s.label) for s in ds.samples] == [
        (f"{WNIDS[1]}/0.jpg", 1),
        (f"{WNIDS[1]}/1.jpg", 1),
        (f"{WNIDS[7]}/0.jpg", 7),
        (f"{WNIDS[7]}/1.jpg", 7),
    ]
    assert ds.name == f"folder:{tmp_path.resolve()}" and ds.partial == ""


def test_index_class_folders_sort_by_integer(tmp_path):
    for name in ("10", "2", "007"):
        tiny_image(tmp_path / name / "a.png")
    assert [s.label for s in load(tmp_path).samples] == [2, 7, 10]


def test_labels_csv_with_indices_and_wnids(tmp_path):
    tiny_image(tmp_path / "b.jpg")
    tiny_image(tmp_path / "sub" / "a.jpg")
    (tmp_path / "labels.csv").write_text(f"file,label\nsub/a.jpg,{WNIDS[5]}\nb.jpg,42\n")
    assert [(s.path.relative_to(tmp_path).as_posix(), s.label) for s in load(tmp_path).samples] == [
        ("b.jpg", 42),
        ("sub/a.jpg", 5),
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: (p.parent.mkdir(parents=True, exist_ok=True), p.write_text("x")), "is a file, not a folder"),
        (lambda p: p.mkdir(parents=True), "contains no images"),
        (lambda p: (tiny_image(p / "a.jpg"), tiny_image(p / WNIDS[0] / "b.jpg")), "mixes images at its top level"),
        (lambda p: (tiny_image(p / "a.jpg"),), "has 1 images but no labels"),
        (lambda p: (tiny_image(p / WNIDS[0] / "a.jpg"), tiny_image(p / "3" / "b.jpg")), "mixes class folders named"),
        (lambda p: (tiny_image(p / "cats" / "a.jpg"), tiny_image(p / "1000" / "b.jpg")), "'1000', 'cats' are neither"),
        (lambda p: (tiny_image(p / "7" / "a.jpg"), tiny_image(p / "007" / "b.jpg")), "'007' and '7' both mean class 7"),
        (
            lambda p: (tiny_image(p / "a.jpg"), p.joinpath("labels.csv").write_text("file,label\na.jpg,dog\n")),
            "line 2: label of 'a.jpg': 'dog' is neither",
        ),
        (
            lambda p: (
                tiny_image(p / "a.jpg"),
                tiny_image(p / "b.jpg"),
                p.joinpath("labels.csv").write_text("file,label\na.jpg,1\nc.jpg,2\n"),
            ),
            r"line 3: c.jpg[\s\S]*not listed in labels.csv:\s+b.jpg",
        ),
    ],
)
def test_bad_folders_are_refused_with_the_fix(tmp_path, build, message):
    path = tmp_path / "mine"
    build(path)
    with pytest.raises(DatasetError, match=message):
        load(path)


def test_unreadable_folder(tmp_path, monkeypatch):
    tiny_image(tmp_path / "mine" / "3" / "a.jpg")

    def refuse(path):  # what os.scandir raises on a folder without read permission (root is never refused)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("biasbench.data.catalogue.class_folders.os.scandir", refuse)
    with pytest.raises(DatasetError, match=f"cannot read {tmp_path / 'mine'}: permission denied.*chmod -R u\\+rX"):
        load(tmp_path / "mine")


def test_empty_path_and_canonical_names(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match="needs a path after the colon"):
        get_dataset_spec("folder:")
    monkeypatch.chdir(tmp_path)
    assert canonical_dataset_name("folder:./mine") == f"folder:{tmp_path.resolve() / 'mine'}"
    assert canonical_dataset_name("imagenet-sample") == "imagenet-sample"


def test_run_keys_follow_content_and_cache_gives_the_same_records(tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    for i, wnid in enumerate(WNIDS[:3]):
        tiny_image(folder / wnid / "a.jpg", size=24 + i)
    monkeypatch.chdir(tmp_path)
    kwargs = dict(datasets=["folder:mine"], report=lambda _: None)
    first = biasbench.run([TINY_MODEL], ["accuracy"], tmp_path / "out", **kwargs)
    assert set(first["dataset"]) == {f"folder:{folder.resolve()}"}
    assert first[first.metric == "top1"].n.tolist() == [3]
    again = biasbench.run([TINY_MODEL], ["accuracy"], tmp_path / "out", **kwargs)
    assert len(again.summary.skipped) == 1  # same content, same key
    cached = biasbench.run(
        [TINY_MODEL],
        ["accuracy"],
        tmp_path / "cached",
        engine=EngineConfig(cache=True, cache_dir=str(tmp_path / "c")),
        **kwargs,
    )
    assert cached.drop(columns="job").equals(first.drop(columns="job"))
    tiny_image(folder / WNIDS[0] / "b.jpg")  # the content changes: a new job
    more = biasbench.run([TINY_MODEL], ["accuracy"], tmp_path / "out", **kwargs)
    assert len(more.summary.finished) == 1 and more[more.metric == "top1"].n.tolist() == [4]


def test_cli_run_and_datasets(tmp_path):
    folder = tmp_path / "mine"
    for wnid in WNIDS[:2]:
        tiny_image(folder / wnid / "a.jpg")
    listing = runner.invoke(app, ["datasets", f"folder:{folder}"])
    assert listing.exit_code == 0 and "present" in listing.output and str(folder) in listing.output.replace("\n", "")
    result = runner.invoke(
        app, ["run", "-m", TINY_MODEL, "-p", "accuracy", "-d", f"folder:{folder}", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert "1 job(s) run" in " ".join(result.output.split())
    bad = runner.invoke(app, ["datasets", f"folder:{tmp_path / 'nope'}"])
    assert bad.exit_code == 0 and "missing" in bad.output and "does not exist" in " ".join(bad.output.split())
