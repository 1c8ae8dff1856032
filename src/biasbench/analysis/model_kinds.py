"""How each model reaches its decisions, read from its jobs' manifests, so the report can say so wherever the
model appears: an ImageNet classifier (a 1000-way head; its 16-class cue-conflict decision goes through
model-vs-human's mapping), a zero-shot CLIP model (a head built from class-name prompts, ``openclip:``: over
the 1000 ImageNet classes or over the 16 category names directly, with its prompt templates), or decisions made
elsewhere and imported (``biasbench import decisions``: a vision-language model's answers to a prompt).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from biasbench.analysis.selection import JobInfo

CLASSIFIER = "ImageNet classifier"
ZERO_SHOT = "zero-shot CLIP"
IMPORTED = "imported answers (VLM)"
# A head that scores the 1000 ImageNet classes (a classifier's, or a zero-shot head over ImageNet's class names).
IMAGENET_HEAD = "imagenet"
HEAD_WORDS = {IMAGENET_HEAD: "the 1000 ImageNet class names", "categories16": "the 16 category names"}
PROMPT_SHOWN = 60  # characters of a prompt shown in a table cell (the whole prompt is its tooltip)


@dataclass(frozen=True)
class ModelKind:
    """A model's ``family`` (``CLASSIFIER``, ``ZERO_SHOT`` or ``IMPORTED``), its decision rule in a few words
    (``how``) and in full (``detail``: the templates or the prompt), and its head (``IMAGENET_HEAD`` when it
    ranks the 1000 ImageNet classes, ``""`` for imported answers)."""

    family: str
    how: str
    detail: str = ""
    head: str = IMAGENET_HEAD

    @property
    def ranks_imagenet(self) -> bool:
        """Whether the model ranks all 1000 ImageNet classes (what REFINED-BIAS's reciprocal ranks read)."""
        return self.head == IMAGENET_HEAD

    @property
    def decides_16_directly(self) -> bool:
        """Whether its cue-conflict decision is made among the 16 categories themselves, not mapped from 1000
        ImageNet classes as model-vs-human does for classifiers."""
        return not self.ranks_imagenet


def one_line(text: str, width: int = PROMPT_SHOWN) -> str:
    """``text`` on one line (line breaks as " / "), cut to ``width`` characters with an ellipsis."""
    flat = " / ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def model_kind(job: JobInfo) -> ModelKind:
    """The kind of the model that ran (or whose answers were imported as) ``job``."""
    info = job.model_info
    if "prompt" in job.params and not info:  # an imported decisions job keeps its prompt as a parameter
        prompt = str(job.params["prompt"])
        how = f"answers to the prompt “{one_line(prompt)}”" if prompt.strip() else "answers, no prompt recorded"
        return ModelKind(IMPORTED, how, prompt, head="")
    if "templates" in info:  # a zero-shot head: its class names and prompt templates are in the manifest
        head = str(info.get("head") or IMAGENET_HEAD)
        n = info.get("n_templates")
        templates = f"{n} templates ({info['templates']})" if n else str(info["templates"])
        how = f"zero-shot over {HEAD_WORDS.get(head, head)}, {templates}"
        return ModelKind(ZERO_SHOT, how, f"templates: {info['templates']}", head=head)
    return ModelKind(CLASSIFIER, "1000-way ImageNet head")


def model_kinds(jobs: Iterable[JobInfo]) -> dict[str, ModelKind]:
    """Per model named in ``jobs``: its kind, an imported or zero-shot job deciding over a plain one (a model
    whose jobs have no manifest is left out: nothing says how it decides)."""
    rank = {IMPORTED: 0, ZERO_SHOT: 1, CLASSIFIER: 2}
    out: dict[str, ModelKind] = {}
    for job in jobs:
        if not job.model:
            continue
        kind = model_kind(job)
        if job.model not in out or rank[kind.family] < rank[out[job.model].family]:
            out[job.model] = kind
    return out
