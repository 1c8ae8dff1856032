"""Effective robustness (Taori et al., NeurIPS 2020) of every model on every OOD set the records hold, and the
correlation of every bias with it.

For each OOD set a line is fitted through reference models in logit-logit space (ImageNet top-1 on x, the OOD
accuracy on y; ``line_fit``); a model's effective robustness (ER) is its OOD accuracy minus the line's
prediction at its ImageNet accuracy, in percentage points, with a bootstrap interval from the lines of the
resampled reference sets. The reference set defaults to the study's standard ImageNet training: the
``baseline`` and ``training_recipes`` categories of Gavrikov & Keuper (CVPR 2024). Biases are then
correlated with ER (``correlation_table``: Spearman, bootstrap CIs, Holm / BH within the family) beside the
study's way of controlling for accuracy, the partial correlation with each OOD accuracy given ImageNet top-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from biasbench.analysis.correlation import correlate, correlation_table
from biasbench.analysis.line_fit import MAX_SLOPE_CI_WIDTH, LineFit, fit_line, get_transform, percentile_ci
from biasbench.analysis.scores import bias_table, generalization_scores, normalise_records
from biasbench.analysis.selection import JobSelector
from biasbench.analysis.specs import OOD_SETS, OodSet, ScoreSpec
from biasbench.core.errors import BiasbenchError, UnknownNameError

DEFAULT_REFERENCE = ("baseline", "training_recipes")
ID_COLUMN = "imagenet_top1"
# The two targets of the bias correlations: ER itself, and the OOD accuracy (plain and partial on ID_COLUMN).
ER_TARGET = "effective_robustness"
ACCURACY_TARGET = "accuracy"
STAT_COLUMNS = ("rho", "ci_low", "ci_high", "p", "p_holm", "p_bh", "n")


def parse_reference(reference: str | Sequence[str]) -> tuple[str, ...]:
    """``"baseline,training_recipes"`` or a sequence of names -> the names, stripped, in order."""
    items = reference.split(",") if isinstance(reference, str) else reference
    names = tuple(dict.fromkeys(n.strip() for n in items if n.strip()))
    if not names:
        raise BiasbenchError("--reference names no category or model; pass e.g. baseline,training_recipes")
    return names


def resolve_reference(reference: str | Sequence[str], categories: pd.Series | None, models: Sequence[str]) -> list[str]:
    """The reference models: each name is a category (all its models among ``models``) or a model."""
    known_categories = set() if categories is None else set(categories.dropna())
    chosen: list[str] = []
    for name in parse_reference(reference):
        if name in known_categories:
            chosen += [m for m in categories[categories == name].index if m in set(models)]
        elif name in set(models):
            chosen.append(name)
        else:
            hint = "" if categories is not None else "No model categories are known: pass --categories FILE.json."
            raise UnknownNameError("reference category or model", name, [*known_categories, *models], hint=hint)
    return list(dict.fromkeys(chosen))


def auto_reference(categories: pd.Series | None, models: Sequence[str]) -> tuple[str, ...]:
    """The reference of a report that was given none: the categories of ``DEFAULT_REFERENCE`` that ``models``
    have, else every one of ``models`` (ER is then each model's distance from its zoo's own line)."""
    present = set() if categories is None else set(categories.reindex(list(models)).dropna())
    return tuple(c for c in DEFAULT_REFERENCE if c in present) or tuple(models)


@dataclass
class EffectiveRobustness:
    """Everything the effective-robustness analysis gives (the report section draws from it).

    ``accuracies``: percent, ``imagenet_top1`` and one column per OOD set. ``fits``: one row per OOD set
    (coefficients in transformed units with bootstrap CIs, the reference models' ID range, ``stable``).
    ``per_model``: long table of ER (percentage points) with its bootstrap interval, whether the model is a
    reference model and whether its ID accuracy lies outside the reference range (``extrapolated``).
    ``values``: ER as a model x OOD-set matrix. ``correlations``: tidy ``correlation_table`` rows with a
    ``target`` column (``effective_robustness``, or ``accuracy`` with control ``none`` / ``imagenet_top1``).
    ``warnings``: one per unstable line. ``reference_spec``: the categories and/or models the reference was
    given as.
    """

    reference: list[str]
    transform: str
    ood_sets: tuple[OodSet, ...]
    accuracies: pd.DataFrame
    lines: dict[str, LineFit]
    fits: pd.DataFrame
    per_model: pd.DataFrame
    values: pd.DataFrame
    correlations: pd.DataFrame
    categories: pd.Series | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reference_spec: tuple[str, ...] = ()

    @property
    def unstable(self) -> list[str]:
        """The OOD sets whose line the reference models do not determine (a bootstrap was run, slope CI too wide)."""
        return [name for name, fit in self.lines.items() if len(fit.draws) and not fit.stable]

    def reference_words(self) -> str:
        """The reference models in words: the categories they were given as, or that they are every model."""
        n = len(self.reference)
        known = set() if self.categories is None else set(self.categories.dropna())
        if self.reference_spec and all(name in known for name in self.reference_spec):
            names = [c.replace("_", " ") for c in self.reference_spec]
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            return f"the {n} models of {listed}"
        if set(self.reference) >= set(self.accuracies[ID_COLUMN].dropna().index):
            return f"all {n} models (each model's ER is its distance from the zoo's own line)"
        return f"{n} named models"

    def title(self, name: str) -> str:
        """Display title of the OOD set ``name``."""
        return next((o.title for o in self.ood_sets if o.name == name), name)

    def side_by_side(self, subset: str = "total", method: str = "spearman") -> pd.DataFrame:
        """Per (bias, OOD set): the correlation with ER (``*_er``) beside the partial correlation with the OOD
        accuracy given ImageNet top-1 (``*_partial``), each with its CI and raw / Holm / BH p-values."""
        part = self.correlations
        if part.empty:
            return pd.DataFrame()
        part = part[(part["subset"] == subset) & (part["method"] == method)]
        er = part[(part["target"] == ER_TARGET) & (part["control"] == "none")]
        partial = part[(part["target"] == ACCURACY_TARGET) & (part["control"] == ID_COLUMN)]
        keys = ["bias", "benchmark"]
        table = er.set_index(keys)[list(STAT_COLUMNS)].add_suffix("_er")
        table = table.join(partial.set_index(keys)[list(STAT_COLUMNS)].add_suffix("_partial"))
        return table.rename_axis(["bias", "ood"]).reset_index()


def _accuracies(records: pd.DataFrame, ood_sets: Sequence[OodSet], selector: JobSelector) -> pd.DataFrame:
    specs = tuple(ScoreSpec(o.name, o.title, (o.member,)) for o in ood_sets)
    return generalization_scores(records, specs, selector).values


def _reference_line(
    ood: OodSet, accuracies: pd.DataFrame, reference: list[str], notes: list[str], **options
) -> LineFit | None:
    """The line of ``ood`` through the reference models (``options`` go to ``fit_line``); None, with a note,
    where it cannot be fitted. Reference models at 0 or 100 % (no logit) stay out of the line."""
    both = accuracies.loc[accuracies.index.isin(reference), [ID_COLUMN, ood.name]].dropna() / 100
    inside = both[np.isfinite(get_transform(options["transform"]).forward(both.to_numpy())).all(axis=1)]
    if len(inside) < len(both):
        left_out = ", ".join(both.index.difference(inside.index))
        notes.append(f"{ood.title}: reference models {left_out} have no {options['transform']} value (accuracy "
                     "0 or 100 %) and stay out of the line.")  # fmt: skip
    try:
        return fit_line(inside[ID_COLUMN], inside[ood.name], **options)
    except ValueError as e:
        notes.append(f"{ood.title}: no line ({e}); reference: {', '.join(reference) or 'none'}.")
        return None


def _fit_row(ood: OodSet, fit: LineFit) -> dict:
    low, high = fit.id_range
    return {
        "ood": ood.name, "title": ood.title, "transform": fit.transform,
        "slope": fit.slope, "slope_low": fit.slope_ci[0], "slope_high": fit.slope_ci[1], "slope_se": fit.slope_se,
        "intercept": fit.intercept, "intercept_low": fit.intercept_ci[0], "intercept_high": fit.intercept_ci[1],
        "r": fit.r, "n_reference": len(fit.x), "id_low": 100 * low, "id_high": 100 * high, "id_span": fit.id_span,
        "residual_sd": fit.residual_sd, "slope_ci_width": fit.slope_ci_width, "stable": fit.stable,
    }  # fmt: skip


def per_model_er(ood: OodSet, fit: LineFit, accuracies: pd.DataFrame, reference: Sequence[str]) -> pd.DataFrame:
    """Effective robustness on ``ood`` (percentage points) of every model with both accuracies (percent; columns
    ``ID_COLUMN`` and ``ood.name``) against the line ``fit``, with its interval over the bootstrap lines."""
    both = accuracies[[ID_COLUMN, ood.name]].dropna()
    x, y = both[ID_COLUMN].to_numpy() / 100, both[ood.name].to_numpy() / 100
    defined = np.isfinite(get_transform(fit.transform).forward(x))  # the line has no value at ID 0 or 1
    predicted = np.where(defined, fit.predict(x), np.nan)
    low, high = np.full(len(x), np.nan), np.full(len(x), np.nan)
    if len(fit.draws) and defined.any():  # no band at ID 0 or 1 either
        low[defined], high[defined] = percentile_ci(fit.predict_draws(x[defined]), fit.confidence)
    id_low, id_high = fit.id_range
    return pd.DataFrame(
        {
            "model": both.index, "ood": ood.name, "id_accuracy": 100 * x, "ood_accuracy": 100 * y,
            "predicted": 100 * predicted, "effective_robustness": 100 * (y - predicted),
            "er_low": np.where(defined, 100 * (y - high), np.nan),
            "er_high": np.where(defined, 100 * (y - low), np.nan),
            "reference": both.index.isin(reference), "extrapolated": (x < id_low) | (x > id_high),
        }
    )  # fmt: skip


def _instability(ood: OodSet, fit: LineFit) -> str:
    low, high = fit.id_range
    return (
        f"{ood.title}: the {len(fit.x)} reference models span ImageNet top-1 {100 * low:.1f}-{100 * high:.1f} % "
        f"({fit.id_span:.2f} {fit.transform} units); the slope's {fit.confidence:.0%} bootstrap CI "
        f"[{fit.slope_ci[0]:.2f}, {fit.slope_ci[1]:.2f}] is {fit.slope_ci_width:.2f} wide (> {MAX_SLOPE_CI_WIDTH:g}), "
        "so the line is not determined by them; effective robustness away from that range is extrapolation "
        "(see er_low / er_high)."
    )


def _accuracy_left(
    values: pd.DataFrame, top1: pd.Series, titles: dict[str, str], alpha: float, notes: list[str]
) -> tuple[list, list]:
    """Spearman rho (and p) of ER with ImageNet top-1 per OOD set over all models; a note where it is
    significant: there, ER has not removed accuracy, and a bias correlated with accuracy correlates with ER."""
    rhos, ps = [], []
    for name in values.columns:
        c = correlate(values[name], top1.reindex(values.index), n_boot=0)
        rhos.append(c.rho)
        ps.append(c.p)
        if c.p < alpha:
            notes.append(
                f"{titles[name]}: effective robustness still correlates with ImageNet top-1 (Spearman rho = "
                f"{c.rho:.2f}, p = {c.p:.2g}, n = {c.n}); its bias correlations partly restate the biases' "
                "link to accuracy (compare the partial correlations)."
            )
    return rhos, ps


def bias_correlations(
    biases: pd.DataFrame,
    values: pd.DataFrame,
    accuracies: pd.DataFrame,
    categories: pd.Series | None = None,
    **options,
) -> pd.DataFrame:
    """Every bias against ER per OOD set, and against the OOD accuracies (plain and partial on ImageNet
    top-1), through ``correlation_table`` (``options``: methods, n_boot, seed, confidence, alpha, min_n).
    Each target is its own call, so Holm / BH families are (subset, method, control) within a target."""
    er = correlation_table(biases, values, categories=categories, **options).assign(target=ER_TARGET)
    ood = [c for c in values.columns if c in accuracies.columns]
    acc = correlation_table(
        biases, accuracies[ood], categories=categories, control=accuracies[ID_COLUMN], control_name=ID_COLUMN,
        **options,
    ).assign(target=ACCURACY_TARGET)  # fmt: skip
    table = pd.concat([er, acc], ignore_index=True)
    return table[["target", *[c for c in table.columns if c != "target"]]]


def effective_robustness(
    records: pd.DataFrame,
    categories: pd.Series | None = None,
    *,
    reference: str | Sequence[str] = DEFAULT_REFERENCE,
    ood_sets: Sequence[OodSet] = OOD_SETS,
    transform: str = "logit",
    methods: Sequence[str] = ("spearman",),
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
    selector: JobSelector | None = None,
    min_models: int = 3,
) -> EffectiveRobustness:
    """Effective robustness of every model on every OOD set present in ``records``, and its bias correlations.

    ``reference``: categories of ``categories`` and/or model names (a comma list or a sequence) whose line is
    fitted. ``transform``: the axis scaling (logit, probit, linear). ``ood_sets``: ``specs.OOD_SETS`` (or
    ``PAPER_OOD_SETS`` for the released numbers). Lines and per-model intervals use ``n_boot`` seeded bootstrap
    resamples of the reference models; correlations use the same ``n_boot`` / ``seed`` over all models.
    Sets without records, or with fewer than three reference models, are named in ``notes``.
    """
    get_transform(transform)  # an unknown transform fails before any work
    parse_reference(reference)
    selector = selector or JobSelector()
    records = normalise_records(records)
    accuracies = _accuracies(records, ood_sets, selector)
    if accuracies[ID_COLUMN].notna().sum() == 0:
        raise BiasbenchError(
            "effective robustness needs ImageNet top-1 (probe accuracy on imagenet-val) of the models; run "
            "`biasbench run -p accuracy -d imagenet-val ...` first"
        )
    ref = resolve_reference(reference, categories, list(accuracies.index))
    notes = list(selector.notes)
    absent = [o.title for o in ood_sets if accuracies[o.name].notna().sum() == 0]
    if absent:
        notes.append(f"No records for {', '.join(absent)}: no effective robustness there.")
    lines, fits, rows, warnings, fitted = {}, [], [], [], []
    for ood in (o for o in ood_sets if o.title not in absent):
        fit = _reference_line(ood, accuracies, ref, notes, transform=transform, n_boot=n_boot, seed=seed,
                              confidence=confidence)  # fmt: skip
        if fit is None:
            continue
        lines[ood.name] = fit
        fitted.append(ood)
        fits.append(_fit_row(ood, fit))
        rows.append(per_model_er(ood, fit, accuracies, ref))
        if n_boot > 0 and not fit.stable:
            warnings.append(_instability(ood, fit))
    per_model = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    values = (
        per_model.pivot(index="model", columns="ood", values="effective_robustness")[[o.name for o in fitted]]
        if rows
        else pd.DataFrame(index=accuracies.index[:0])
    )
    fits = pd.DataFrame(fits)
    if len(fits):
        fits["rho_er_id"], fits["p_er_id"] = _accuracy_left(
            values, accuracies[ID_COLUMN], {o.name: o.title for o in fitted}, alpha, notes
        )
    biases = bias_table(records, selector=selector).values
    biases = biases[[b for b in biases.columns if biases[b].notna().sum() >= min_models]]
    correlations = pd.DataFrame()
    if biases.shape[1] and values.shape[1]:
        correlations = bias_correlations(
            biases, values, accuracies, categories, methods=methods, n_boot=n_boot, seed=seed,
            confidence=confidence, alpha=alpha, min_n=min_models,
        )  # fmt: skip
    else:
        notes.append(f"No bias correlations: need >= {min_models} models with a bias and an effective robustness.")
    return EffectiveRobustness(
        ref, transform, tuple(fitted), accuracies, lines, fits, per_model, values, correlations,
        categories, notes, warnings, parse_reference(reference),
    )  # fmt: skip
