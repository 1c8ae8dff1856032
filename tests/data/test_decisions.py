"""Reading a decisions CSV (the released per-image format of Gavrikov et al. 2025) against the generated
cue-conflict stimuli: alignment, label rules and one clear error per broken file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biasbench.core.errors import DecisionsError
from biasbench.data.datasets import load_dataset
from biasbench.data.labels.categories16 import CATEGORIES16
from biasbench.data.labels.decisions import NO_DECISION, category_index, read_decisions, stimulus_name


@pytest.fixture(scope="module")
def cue(generated_root):
    return load_dataset("cue-conflict", generated_root)


def stems(dataset) -> list[str]:
    return [s.path.stem for s in dataset.samples]


def write(tmp_path, frame: pd.DataFrame, name: str = "d.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_rows_align_with_the_stimuli_whatever_their_order_and_name_form(cue, tmp_path):
    names = stems(cue)
    rng = np.random.default_rng(0)
    labels = [CATEGORIES16[i] for i in rng.integers(0, 16, len(names))]
    forms = [n if i % 3 == 0 else f"{n}.png" if i % 3 == 1 else f"some/dir/{n}.png" for i, n in enumerate(names)]
    frame = pd.DataFrame({"image": forms, "pred_label": labels, "pred_conf": rng.uniform(size=len(names))})
    order = rng.permutation(len(names))
    d = read_decisions(write(tmp_path, frame.iloc[order]), cue)
    assert d.frame["file"].tolist() == [str(s.path.relative_to(cue.folder)) for s in cue.samples]
    assert d.decision.tolist() == [CATEGORIES16.index(lab) for lab in labels]
    assert np.allclose(d.frame["confidence"], frame["pred_conf"])
    assert d.shape.tolist() == [s.label for s in cue.samples]
    assert d.texture.tolist() == [s.meta["texture"] for s in cue.samples]
    assert d.n_no_decision == 0 and d.other_labels == {}


def test_empty_none_and_other_words_are_no_decision_and_labels_ignore_case_and_blanks(cue, tmp_path):
    names = stems(cue)
    labels = ["dog"] * len(names)
    labels[:5] = ["", "None", " Dog ", "aeroplane", "CAT"]
    frame = pd.DataFrame({"image": names, "pred_label": labels, "response": "x", "timestamp": "t"})
    d = read_decisions(write(tmp_path, frame), cue)
    assert d.decision[:5].tolist() == [NO_DECISION, NO_DECISION, 10, NO_DECISION, 7]
    assert d.n_no_decision == 3
    assert d.other_labels == {"": 2, "aeroplane": 1}  # pandas reads "None" as empty, as the study's code does
    assert d.ignored_columns == ("timestamp",)
    assert d.frame["response"].tolist()[:2] == ["x", "x"]


def test_helpers():
    assert stimulus_name(" airplane/airplane1-bear2.png ") == "airplane1-bear2"
    assert stimulus_name("airplane1-bear2.PNG") == "airplane1-bear2"
    assert stimulus_name("airplane1-bear2") == "airplane1-bear2"
    assert category_index("Truck") == 15 and category_index(float("nan")) == NO_DECISION


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (lambda f: f.drop(columns="pred_label"), ["lacks column(s) pred_label", "found: image"]),
        (lambda f: f.drop(index=[0, 1, 2]), ["3 of the 1280 stimuli have no row", "'airplane1-airplane1'"]),
        # the 8th stimulus in path order is airplane16-bear1
        (lambda f: pd.concat([f, f.iloc[[7]]]), ["1 stimuli appear in more than one row", "'airplane16-bear1'"]),
        (
            lambda f: f.assign(image=f["image"].where(f.index > 1, "cat99-dog1")),
            ["1 image names are not cue-conflict stimuli ('cat99-dog1')", "2 of the 1280 stimuli have no row"],
        ),
        (
            lambda f: f.assign(pred_conf=["high"] + [0.5] * (len(f) - 1)),
            ["pred_conf holds values that are not numbers ('high')"],
        ),
        (lambda f: f.assign(pred_label="K"), ["no pred_label names one of the 16 categories ('K')", "letters A-P"]),
    ],
)
def test_every_problem_is_named_before_anything_is_computed(cue, tmp_path, edit, needles):
    frame = pd.DataFrame({"image": stems(cue), "pred_label": "dog", "pred_conf": 1.0})
    with pytest.raises(DecisionsError) as info:
        read_decisions(write(tmp_path, edit(frame)), cue)
    for needle in needles:
        assert needle in str(info.value)


def test_unreadable_or_absent_files(cue, tmp_path):
    with pytest.raises(DecisionsError, match="no decisions file"):
        read_decisions(tmp_path / "absent.csv", cue)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DecisionsError, match="not a readable CSV"):
        read_decisions(tmp_path / "empty.csv", cue)
