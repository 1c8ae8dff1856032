"""Conditions as data: each kind writes exactly the text the probes have always stored, and reads it back
(fields, not positions); every condition of a real results directory and of the released data round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from biasbench.store.conditions import (
    Attack,
    Band,
    ClassGroup,
    Clean,
    ConditionError,
    CorruptionSet,
    CorruptionSubset,
    FactorLevel,
    Filter,
    Location,
    Named,
    NoiseCell,
    ResolutionSetting,
    TrainingStep,
    amount,
    canonical_condition,
    parse_as,
    parse_condition,
)
from tests.conftest import require

# (condition, the text the probes stored before conditions were typed)
WRITTEN = [
    (Clean(), ""),
    (Filter("lowpass", 0.1 + 0.2), "lowpass/0.3"),
    (Filter("highpass", 1.0), "highpass/1"),
    (NoiseCell(0.08, 3), "sigma/0.08/band/3"),
    (NoiseCell(0.0, 0), "sigma/0/band/0"),
    (Band(6), "band/6"),
    (CorruptionSet("generated"), "generated"),
    (CorruptionSet("ondisk", "fog"), "ondisk/fog"),
    (CorruptionSet("generated", "gaussian_noise", 3), "generated/gaussian_noise/3"),
    (CorruptionSubset("generated", ("contrast", "fog")), "generated/contrast+fog"),
    (CorruptionSubset("ondisk", ("a", "b"), (1, 3)), "ondisk/a+b/severities=1,3"),
    (Attack("pgd", "linf", "0.5/255"), "pgd/linf/eps=0.5/255"),
    (Attack("fgsm", "l2", "0.25"), "fgsm/l2/eps=0.25"),
    (Attack("pgd", "linf", "8/255", 10, "2/255"), "pgd/linf/eps=8/255/steps=10/step=2/255"),
    (FactorLevel("area", 0.2), "area/0.2"),
    (FactorLevel("rotation", 341.0), "rotation/341"),
    (FactorLevel("rotation", -10.0), "rotation/-10"),
    (Location(0.05, 1.0), "x/0.05/y/1.00"),
    (ResolutionSetting("naive", 224), "naive/224"),
    (ResolutionSetting("bn"), "bn"),
    (ClassGroup("dog"), "class/dog"),
    (TrainingStep(100), "step/100"),
    (Named("layer1.0.conv1"), "layer1.0.conv1"),
    (Named("finetune"), "finetune"),
    (Named("noise-free"), "noise-free"),
]


@pytest.mark.parametrize(("condition", "text"), WRITTEN, ids=[t or "clean" for _, t in WRITTEN])
def test_each_kind_writes_the_stored_text_and_reads_it_back(condition, text):
    assert str(condition) == text
    assert parse_condition(text) == condition
    assert type(condition).parse(text) == condition


def test_values_are_fields_not_positions():
    attack = Attack.parse("pgd/linf/eps=0.5/255/steps=10")
    assert (attack.attack, attack.norm, attack.epsilon, attack.steps, attack.step_size) == (
        "pgd", "linf", "0.5/255", 10, None,
    )  # fmt: skip
    assert attack.epsilon_value == pytest.approx(0.5 / 255)
    assert Filter.parse("highpass/0.45").cutoff == 0.45 and NoiseCell.parse("sigma/0.16/band/2").band == 2
    subset = CorruptionSubset.parse("generated/contrast+fog/severities=1,3")
    assert subset.corruptions == ("contrast", "fog") and subset.severities == (1, 3)
    assert Location.parse("x/0.20/y/0.35") == Location(0.2, 0.35) and Location(0.2, 0.35).factor == "location"
    assert amount("0.5/255") == pytest.approx(0.5 / 255) and amount(0.25) == 0.25 and amount("0.002") == 0.002


def test_a_reader_of_one_kind_refuses_another_by_its_form():
    with pytest.raises(ConditionError, match=r"'band/3' is not a filter condition, written lowpass/<cut-off>"):
        Filter.parse("band/3")
    with pytest.raises(ConditionError, match="neither way"):
        parse_as("naive/224", FactorLevel, Location)
    assert parse_as("x/0.05/y/1.00", FactorLevel, Location) == Location(0.05, 1.0)
    for text in ("lowpass/x", "sigma/0.1/band/-1", "generated/fog/03", "pgd/linf/steps=3", "class/"):
        assert isinstance(parse_condition(text), Named), text  # not written in any kind: a name, kept as it is


def test_numbers_compare_by_value():
    assert canonical_condition("lowpass/0.30000000000000004") == "lowpass/0.3"
    assert canonical_condition("x/0.20/y/0.30") == "x/0.20/y/0.30"  # already as its kind writes it
    assert canonical_condition("pgd/linf/steps=10/eps=0.5/255") == "pgd/linf/eps=0.5/255/steps=10"
    assert canonical_condition("layer3.10.conv2") == "layer3.10.conv2"


# Every distinct condition of a study of every probe but transfer and refined-bias (two models; accuracy,
# calibration, shape-bias, edge/silhouette, spectral, adaptive critical-band, generated corruption subsets,
# PGD, criticality, SI-SCORE size, resolution), as biasbench wrote them before conditions were typed.
STORED = Path(__file__).with_name("conditions_in_results.txt")


def test_every_condition_of_a_real_results_directory_round_trips():
    texts = STORED.read_text().splitlines()
    assert len(texts) > 50
    assert [t for t in texts if str(parse_condition(t)) != t] == []
    kinds = {type(parse_condition(t)).__name__ for t in texts}
    assert {"Filter", "NoiseCell", "Band", "CorruptionSet", "CorruptionSubset", "Attack", "FactorLevel"} <= kinds


def test_every_condition_of_the_released_data_round_trips(data_root):
    from biasbench.analysis.released import benchmark_records, criticality_records, read_categories

    folder = require(data_root, "biases-vs-generalization")
    records = benchmark_records(folder / "benchmark.csv", read_categories(folder / "r50_categories.json").index)
    critical = require(data_root, "layer-criticality")
    conditions = {*records["condition"], *criticality_records(critical / "results.csv")["condition"]}
    assert {"lowpass/0.3", "highpass/0.99", "layer1.0.conv1"} <= conditions
    assert [t for t in conditions if str(parse_condition(t)) != t] == []
