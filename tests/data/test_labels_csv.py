"""``labels.csv`` validation: every problem names its line; nothing is scored silently as a miss."""

from __future__ import annotations

import pytest

from biasbench.core.errors import DatasetError
from biasbench.data.catalogue.labels_csv import LabelError, imagenet_index, imagenet_label, read_labels_csv
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.imagenet import imagenet_wnids
from tests.fixtures_layouts import tiny_image


def sample_copy(root, rows: list[str], images: list[str]):
    """An imagenet-sample layout with the given labels.csv lines (after the header) and image files."""
    folder = root / "imagenet-sample-images"
    for name in images:
        tiny_image(folder / "images" / name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.csv").write_text("\n".join(["filename,wnid,class_index", *rows]) + "\n")
    return folder


def test_label_parsers():
    assert imagenet_index("7") == 7 and imagenet_index(" 999 ") == 999
    assert (
        imagenet_label("n01440764") == 0 and imagenet_label(imagenet_wnids()[999]) == 999 and imagenet_label("3") == 3
    )
    for text, message in [
        ("1000", "outside ImageNet-1k's 0..999"),
        ("-1", "outside ImageNet-1k's 0..999"),
        ("cat", "not an integer"),
        ("3.0", "not an integer"),
        ("", "not an integer"),
    ]:
        with pytest.raises(LabelError, match=message):
            imagenet_index(text)
    with pytest.raises(LabelError, match="neither an ImageNet-1k class index"):
        imagenet_label("cat")
    with pytest.raises(LabelError, match="not one of the 1000 ImageNet-1k WNIDs"):
        imagenet_label("n99999999")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["a.JPEG,n0,1000", "b.JPEG,n0,1"], r"line 2: label of 'a.JPEG': class index 1000 is outside"),
        (["a.JPEG,n0,0", "b.JPEG,n0,-1"], r"line 3: label of 'b.JPEG': class index -1 is outside"),
        (["a.JPEG,n0,cat", "b.JPEG,n0,1"], r"line 2: label of 'a.JPEG': 'cat' is not an integer class index"),
        (["a.JPEG,n0,1", "b.JPEG,n0,2", "a.JPEG,n0,5"], r"lines 2 and 4 both list 'a.JPEG' \(labels 1 and 5\)"),
        (["../a.JPEG,n0,1", "b.JPEG,n0,2"], r"line 2: file '../a.JPEG' is empty, absolute or outside"),
    ],
)
def test_imagenet_sample_labels_are_validated_with_the_line(tmp_path, rows, message):
    sample_copy(tmp_path, rows, ["a.JPEG", "b.JPEG"])
    with pytest.raises(DatasetError, match=message) as info:
        get_dataset_spec("imagenet-sample").load(tmp_path, check_count=False)
    assert "filename,class_index" in str(info.value)  # the fix: how to write the file


def test_every_problem_is_listed_once(tmp_path):
    rows = [f"x{i}.JPEG,n0,{1000 + i}" for i in range(8)]
    sample_copy(tmp_path, rows, [f"x{i}.JPEG" for i in range(8)])
    with pytest.raises(DatasetError, match=r"(?s)has 8 problem\(s\).*line 6.*\.\.\. and 3 more"):
        get_dataset_spec("imagenet-sample").load(tmp_path, check_count=False)


def test_listed_missing_and_present_unlisted(tmp_path):
    sample_copy(tmp_path, ["a.JPEG,n0,1", "gone.JPEG,n0,2"], ["a.JPEG"])
    with pytest.raises(DatasetError, match=r"lists 1 file\(s\) that are missing:\s+line 3: gone.JPEG.*--partial"):
        get_dataset_spec("imagenet-sample").load(tmp_path)
    tiny_image(tmp_path / "imagenet-sample-images" / "images" / "extra.JPEG")
    with pytest.raises(DatasetError, match=r"1 image\(s\) under .* are not listed in labels.csv:\s+extra.JPEG"):
        get_dataset_spec("imagenet-sample").load(tmp_path, check_count=False)


def test_header_and_encoding_problems(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("name,label\na.jpg,1\n")
    with pytest.raises(DatasetError, match="the header is name,label; expected the columns file,label"):
        read_labels_csv(labels, file_column="file", label_column="label", parse_label=imagenet_label, fix="")
    labels.write_bytes(b"file,label\n\xff\xfe.jpg,1\n")
    with pytest.raises(DatasetError, match="Save it as a UTF-8 CSV"):
        read_labels_csv(labels, file_column="file", label_column="label", parse_label=imagenet_label, fix="")
    labels.write_text("\ufefffile,label\n\na.jpg,n01440764\n")  # BOM and a blank line are fine
    rows = read_labels_csv(labels, file_column="file", label_column="label", parse_label=imagenet_label, fix="")
    assert [(r.line, r.file, r.label) for r in rows] == [(3, "a.jpg", 0)]
    labels.write_text("file,label\n")
    with pytest.raises(DatasetError, match="lists no images"):
        read_labels_csv(labels, file_column="file", label_column="label", parse_label=imagenet_label, fix="")
