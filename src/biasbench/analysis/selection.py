"""Which job's records the analysis reads: exactly one job per (model, measurement), never a blend.

A results directory may hold several jobs measuring the same thing for a model: a ``--limit`` run next to
a full run, a compat and a default run, a bias measured on two datasets, an older probe version. Averaging
them would mix different quantities, so for every group of records that share a model and a measurement
key, :class:`JobSelector` keeps the records of one job:

1. the jobs matching the user's preferences (``prefer``), when any match;
2. of those, the jobs of the newest probe version;
3. of those, the full-dataset jobs (no ``--limit``, not a trimmed copy measured with ``--partial``), when any;
4. of those, the jobs with the probe's default parameters, when any.

If more than one job is left, :class:`JobSelectionError` names them (key, dataset, limit, non-default
parameters) and the preference that chooses. Job metadata comes from the manifests ``jobs/<key>.json``;
records of a job without a manifest (released data, hand-made tables) count as full and default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from biasbench.core.errors import BiasbenchError

# Manifest fields a preference may name; "params.NAME" names one probe parameter.
PREFERENCE_FIELDS = ("job", "dataset", "limit", "limit_mode", "probe_version", "precision", "seed")
ANY_PROBE = "*"


class JobSelectionError(BiasbenchError):
    """Several jobs measure the same thing for a model and nothing says which one to analyse."""


def _text(value: Any) -> str:
    """A value as a preference compares it: ``None`` -> ``"none"``, lists by their items."""
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short(value: Any, width: int = 48) -> str:
    """A parameter value on one line, cut to ``width`` characters."""
    text = str(value).replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def _default_params(probe: str) -> dict[str, Any] | None:
    from biasbench.probes.base import PROBES

    cls = PROBES.get(probe)
    return None if cls is None else cls.Params().model_dump(mode="json")


@dataclass(frozen=True)
class JobInfo:
    """What the selection needs to know about one job (from its manifest)."""

    key: str
    probe: str = ""
    dataset: str = ""
    limit: int | None = None
    limit_mode: str | None = None  # how --limit sampled ("balanced", "first"); None in older manifests
    probe_version: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    precision: str = ""
    seed: int | None = None
    partial: str = ""  # why the dataset copy was not complete ("" for a full copy)
    n_images: int | None = None  # images the job read (after --limit)
    notes: Mapping[str, Any] = field(default_factory=dict)  # the probe's notes (e.g. why a fit failed)
    model: str = ""
    model_info: Mapping[str, Any] = field(default_factory=dict)  # the model's provenance (head, templates, ...)

    @classmethod
    def from_manifest(cls, key: str, manifest: Mapping[str, Any]) -> JobInfo:
        return cls(
            key=key,
            probe=str(manifest.get("probe", "")),
            dataset=str(manifest.get("dataset", "")),
            limit=manifest.get("limit"),
            limit_mode=manifest.get("limit_mode"),
            probe_version=int(manifest.get("probe_version") or 0),
            params=dict(manifest.get("params") or {}),
            precision=str(manifest.get("precision", "")),
            seed=manifest.get("seed"),
            partial=str(manifest.get("partial") or ""),
            n_images=manifest.get("n_images"),
            notes=dict(manifest.get("notes") or {}),
            model=str(manifest.get("model", "")),
            model_info=dict(manifest.get("model_info") or {}),
        )

    def non_default_params(self) -> dict[str, Any]:
        """Parameters that differ from the probe's defaults (empty for unknown probes)."""
        defaults = _default_params(self.probe)
        if defaults is None:
            return {}
        return {k: v for k, v in self.params.items() if k in defaults and defaults[k] != v}

    def value(self, name: str) -> Any:
        if name.startswith("params."):
            return self.params.get(name.removeprefix("params."))
        if name == "job":
            return self.key
        return getattr(self, name)

    def describe(self) -> str:
        # parameters the probe does not define (an imported job's prompt) tell such jobs apart, so they are shown
        defaults = _default_params(self.probe)
        own = {k: v for k, v in self.params.items() if defaults is not None and k not in defaults}
        params = {**self.non_default_params(), **own}
        shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or "defaults"
        mode = f" {self.limit_mode}" if self.limit_mode else ""
        limit = "full dataset" if self.limit is None else f"limit={self.limit}{mode}"
        limit += ", partial copy" if self.partial else ""
        return f"job {self.key} (dataset={self.dataset}, {limit}, v{self.probe_version}, params: {shown})"


def parse_preferences(items: Iterable[str]) -> dict[str, dict[str, str]]:
    """CLI ``--prefer`` values -> ``{probe: {field: value}}``.

    Each item is ``[PROBE:]FIELD=VALUE`` with FIELD one of job, dataset, limit, limit_mode, probe_version,
    precision, seed or ``params.NAME``; without PROBE it applies to every probe. E.g. ``spectral:dataset=imagenet-val``,
    ``limit=none``, ``job=3f2a...``, ``adversarial:params.steps=40``.
    """
    out: dict[str, dict[str, str]] = {}
    for item in items:
        head, sep, value = item.partition("=")
        scope, _, name = head.rpartition(":")
        name = name.strip()
        if not sep or not (name in PREFERENCE_FIELDS or name.startswith("params.")):
            raise BiasbenchError(
                f"--prefer {item!r}: write [PROBE:]FIELD=VALUE with FIELD one of {', '.join(PREFERENCE_FIELDS)} "
                "or params.NAME, e.g. spectral:dataset=imagenet-val"
            )
        out.setdefault(scope.strip() or ANY_PROBE, {})[name] = value.strip()
    return out


class JobSelector:
    """Keeps one job's records per (model, measurement); see the module docstring for the rule."""

    def __init__(
        self,
        manifests: Mapping[str, Mapping[str, Any]] | None = None,
        prefer: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        """``manifests``: job key -> manifest (``ResultsStore.manifests_by_job()``); ``prefer``: probe (or
        ``"*"``) -> {field: value}, see ``parse_preferences``."""
        self.jobs = {key: JobInfo.from_manifest(key, m) for key, m in (manifests or {}).items()}
        self.prefer = {probe: dict(fields) for probe, fields in (prefer or {}).items()}
        self.notes: list[str] = []

    def info(self, key: str, probe: str, dataset: str) -> JobInfo:
        return self.jobs.get(key) or JobInfo(key, probe, dataset)

    def _preferred(self, probe: str, candidates: list[JobInfo]) -> list[JobInfo]:
        wanted = {**self.prefer.get(ANY_PROBE, {}), **self.prefer.get(probe, {})}
        if not wanted:
            return candidates
        chosen = [c for c in candidates if all(_text(c.value(k)) == _text(v) for k, v in wanted.items())]
        return chosen or candidates

    def choose(self, probe: str, candidates: list[JobInfo], model: str = "") -> JobInfo:
        """The one job to read among ``candidates`` (same model, same measurement), or a clear error."""
        if len(candidates) == 1:
            return candidates[0]
        left = self._preferred(probe, candidates)
        newest = max(c.probe_version for c in left)
        left = [c for c in left if c.probe_version == newest]
        left = [c for c in left if c.limit is None and not c.partial] or left
        left = [c for c in left if not c.non_default_params()] or left
        if len(left) > 1:
            lines = "\n  ".join(c.describe() for c in left)
            raise JobSelectionError(
                f"{len(left)} jobs measure the same {probe} numbers{f' of model {model}' if model else ''} and "
                "none is preferred by the rule (newest probe version, full dataset, default parameters):"
                f"\n  {lines}\nChoose one with "
                f"--prefer {probe}:job=KEY (or {probe}:dataset=NAME, {probe}:limit=N, {probe}:params.NAME=VALUE); "
                f"in Python pass prefer={{'{probe}': {{'job': KEY}}}}."
            )
        return left[0]

    def per_model(
        self, manifests: Mapping[str, Mapping[str, Any]], probe: str, dataset: str
    ) -> tuple[dict[str, JobInfo], list[str]]:
        """The one job per model among the finished jobs of ``probe`` on ``dataset`` (``manifests``: job key ->
        manifest, ``ResultsStore.manifests_by_job()``), for analyses that read per-sample tables; also a note
        per model whose other jobs were ignored."""
        by_model: dict[str, list[JobInfo]] = {}
        for key, manifest in manifests.items():
            if manifest.get("probe") == probe and manifest.get("dataset") == dataset:
                by_model.setdefault(manifest["model"], []).append(JobInfo.from_manifest(key, manifest))
        chosen, notes = {}, []
        for model, candidates in sorted(by_model.items()):
            chosen[model] = self.choose(probe, candidates, model)
            if len(candidates) > 1:
                ignored = "; ".join(c.describe() for c in candidates if c.key != chosen[model].key)
                notes.append(f"{model}: read {probe} on {dataset} from {chosen[model].describe()}; ignored {ignored}")
        return chosen, notes

    def select(self, records: pd.DataFrame, measurement: Sequence[str]) -> pd.DataFrame:
        """Rows of ``records`` from one job per (model, probe, *measurement*) group; the choices made are
        appended to ``notes``. ``measurement`` are the columns that identify one number besides model
        and probe (e.g. dataset, metric, condition; leave dataset out when any dataset will do)."""
        if records.empty:
            return records
        by = ["model", "probe", *[c for c in measurement if c not in ("model", "probe")]]
        jobs = records.groupby(by, sort=False, dropna=False)["job"].unique()
        if (jobs.map(len) == 1).all():
            return self.note_partial(records)
        dataset_of = records.drop_duplicates("job").set_index("job")["dataset"].to_dict()
        chosen_rows = []
        for group, keys in jobs.items():
            model, probe = group[0], group[1]
            candidates = [self.info(k, probe, dataset_of.get(k, "")) for k in keys]
            chosen = self.choose(probe, candidates, model)
            chosen_rows.append((*group, chosen.key))
            if len(candidates) > 1:
                ignored = "; ".join(c.describe() for c in candidates if c.key != chosen.key)
                note = f"{model}: read {probe} from {chosen.describe()}; ignored {ignored}"
                if note not in self.notes:
                    self.notes.append(note)
        chosen_frame = pd.DataFrame(chosen_rows, columns=[*by, "job"])
        return self.note_partial(records.merge(chosen_frame, on=[*by, "job"], how="inner")[list(records.columns)])

    def note_partial(self, records: pd.DataFrame) -> pd.DataFrame:
        """Add a note for every job of ``records`` that measured a trimmed dataset copy; returns ``records``."""
        for key in records["job"].unique():
            info = self.jobs.get(key)
            if info is not None and info.partial:
                note = f"{info.describe()} measured a partial copy of {info.dataset}, not the full benchmark"
                if note not in self.notes:
                    self.notes.append(note)
        return records


__all__ = ["JobInfo", "JobSelectionError", "JobSelector", "parse_preferences"]
