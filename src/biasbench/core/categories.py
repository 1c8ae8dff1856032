"""Class-name vocabularies that more than one layer needs: model-vs-human's 16 categories name the columns of
the cue-conflict label space (``data``) and the prompts of a zero-shot head over them (``models``)."""

from __future__ import annotations

CATEGORIES16: tuple[str, ...] = (
    "airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
    "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck",
)  # fmt: skip
