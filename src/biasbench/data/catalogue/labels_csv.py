"""``labels.csv`` files: one row per image file with its label, validated line by line.

A labels file is read whole before anything runs, and every problem names its line: a label that is not an
integer (or not a WNID where WNIDs are allowed), a label outside the label space (e.g. 1000 or -1 for
ImageNet-1k), a file listed twice (the last line used to win silently), an empty or escaping file name. A file
listed but missing and a file present but unlisted are checked by ``match_files``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from biasbench.core.errors import DatasetError
from biasbench.data.labels.imagenet import NUM_CLASSES, wnid_to_index

SHOWN = 5  # problems quoted in one message; the rest are counted
INTEGER = re.compile(r"[+-]?\d+")
WNID = re.compile(r"n\d{8}")


class LabelError(ValueError):
    """One label that cannot be used; the message says what is expected."""


@dataclass(frozen=True)
class LabelRow:
    """One line of a labels file: its line number, the file (relative, POSIX separators) and its label."""

    line: int
    file: str
    label: int


def imagenet_index(text: str) -> int:
    """An ImageNet-1k class index 0..999 written as an integer; raises LabelError otherwise."""
    value = text.strip()
    if not INTEGER.fullmatch(value):
        raise LabelError(f"{text!r} is not an integer class index (0..{NUM_CLASSES - 1})")
    index = int(value)
    if not 0 <= index < NUM_CLASSES:
        raise LabelError(f"class index {index} is outside ImageNet-1k's 0..{NUM_CLASSES - 1}")
    return index


def imagenet_label(text: str) -> int:
    """An ImageNet-1k class index (``0..999``) or WNID (``n01440764``) → index; raises LabelError otherwise."""
    value = text.strip()
    if WNID.fullmatch(value):
        if value not in wnid_to_index():
            raise LabelError(f"{value!r} is not one of the 1000 ImageNet-1k WNIDs")
        return wnid_to_index()[value]
    if INTEGER.fullmatch(value):
        return imagenet_index(value)
    raise LabelError(
        f"{text!r} is neither an ImageNet-1k class index (an integer 0..{NUM_CLASSES - 1}) nor a WNID (like n01440764)"
    )


def problem_list(problems: list[str]) -> str:
    """The first few problems, one per line, and how many more there are."""
    shown = "\n  ".join(problems[:SHOWN])
    more = f"\n  ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return f"\n  {shown}{more}"


def relative_file(name: str) -> str | None:
    """``name`` as a clean relative POSIX path, or None when it is empty, absolute or climbs out (``..``)."""
    text = name.strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or re.match(r"^[A-Za-z]:", text) or ".." in pure.parts:
        return None
    return pure.as_posix()


def read_labels_csv(
    path: Path, *, file_column: str, label_column: str, parse_label: Callable[[str], int], fix: str
) -> list[LabelRow]:
    """Every row of ``path`` validated: both columns present, a usable file name and label on every line, no
    file listed twice. ``parse_label`` turns a label cell into an int or raises LabelError; ``fix`` ends every
    error message (how to write the file). Raises DatasetError naming the lines at fault."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [c.strip() for c in reader.fieldnames or []]
            if file_column not in header or label_column not in header:
                raise DatasetError(
                    f"{path}: the header is {','.join(header) or '(empty)'}; expected the columns "
                    f"{file_column},{label_column}. {fix}"
                )
            reader.fieldnames = header
            rows = [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"cannot read {path}: {e}. Save it as a UTF-8 CSV file. {fix}") from None
    problems: list[str] = []
    parsed: list[LabelRow] = []
    first_line: dict[str, LabelRow] = {}
    for line, row in rows:
        raw_file, raw_label = (row.get(file_column) or ""), (row.get(label_column) or "")
        if not raw_file.strip() and not raw_label.strip():
            continue  # a blank line
        name = relative_file(raw_file)
        if name is None:
            problems.append(f"line {line}: file {raw_file!r} is empty, absolute or outside the folder")
            continue
        try:
            label = parse_label(raw_label)
        except LabelError as e:
            problems.append(f"line {line}: label of {name!r}: {e}")
            continue
        if name in first_line:
            earlier = first_line[name]
            same = "the same label" if earlier.label == label else f"labels {earlier.label} and {label}"
            problems.append(f"lines {earlier.line} and {line} both list {name!r} ({same}); keep one line per file")
            continue
        first_line[name] = LabelRow(line, name, label)
        parsed.append(first_line[name])
    if problems:
        raise DatasetError(f"{path} has {len(problems)} problem(s):{problem_list(problems)}\n{fix}")
    if not parsed:
        raise DatasetError(f"{path} lists no images. {fix}")
    return parsed


def match_files(rows: Iterable[LabelRow], present: Iterable[str]) -> tuple[list[LabelRow], list[str]]:
    """(rows whose file is missing, present files that no row lists), both in file order."""
    rows = list(rows)
    present_set = set(present)
    listed = {r.file for r in rows}
    missing = [r for r in rows if r.file not in present_set]
    unlisted = sorted(present_set - listed)
    return missing, unlisted


def missing_lines(path: Path, missing: list[LabelRow]) -> str:
    """A message naming the listed-but-missing files of ``path`` by line."""
    return f"{path} lists {len(missing)} file(s) that are missing:" + problem_list(
        [f"line {r.line}: {r.file}" for r in missing]
    )


def unlisted_files(path: Path, folder: Path, unlisted: list[str]) -> str:
    """A message naming the image files under ``folder`` that ``path`` does not list."""
    return f"{len(unlisted)} image(s) under {folder} are not listed in {path.name}:" + problem_list(unlisted)
