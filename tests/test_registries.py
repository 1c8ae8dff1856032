"""Every registry resolves every one of its names in a fresh interpreter, whatever was imported before: nothing
registers as a side effect of importing an unrelated module, no module list is kept by hand, and no import order
matters. The registries are found in the source (every ``NAME = Registry(...)``), so a new one is covered too."""

from __future__ import annotations

import ast
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "biasbench"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def registries() -> list[tuple[str, str]]:
    """(module, attribute) of every module-level ``X = Registry(...)`` / ``X: Registry[...] = Registry(...)``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            target = value = None
            if isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "Registry":
                found.append((module_name(path), target.id))
    return found


MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")

# Runs in the fresh interpreter: import the modules given (in that order), then resolve every name of every
# registry; prints {registry: sorted names}. (biasbench.core.errors comes first: it imports nothing of biasbench
# beyond ``biasbench/__init__``, which every order imports anyway.)
RESOLVE = """
import importlib, json, sys, warnings
from biasbench.core.errors import BiasbenchWarning
warnings.simplefilter("error", BiasbenchWarning)  # resolving warns about nothing (no broken plug-in)
order, registries = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for module in order:
    importlib.import_module(module)
names = {}
for module, attribute in registries:
    registry = getattr(importlib.import_module(module), attribute)
    names[f"{module}.{attribute}"] = sorted(registry)
    for name in registry:
        assert registry[name] is not None, (module, attribute, name)
from biasbench.data.labels.spaces import LABEL_SPACES
assert callable(LABEL_SPACES["ytbb-24"])  # the space that once registered only when data/video.py was imported
print(json.dumps(names))
"""


def resolve(order: list[str]) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    args = [sys.executable, "-c", RESOLVE, json.dumps(order), json.dumps(registries())]
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


ORDERS = {
    "nothing-before": [],
    "sorted": MODULES,
    "reversed": MODULES[::-1],
    "shuffled": random.Random(24).sample(MODULES, len(MODULES)),
}


@pytest.fixture(scope="module")
def reference() -> dict[str, list[str]]:
    return resolve([])


def test_the_source_scan_finds_the_registries():
    found = {f"{m}.{a}" for m, a in registries()}
    expected = {
        "biasbench.probes.base.PROBES",
        "biasbench.data.datasets.DATASETS",
        "biasbench.data.labels.spaces.LABEL_SPACES",
        "biasbench.models.sources.MODEL_SOURCES",
        "biasbench.perturb.corruptions.registry.CORRUPTIONS",
        "biasbench.commands.COMMANDS",
    }
    assert expected <= found


def test_a_fresh_interpreter_resolves_every_registered_name(reference):
    assert set(reference) == {f"{m}.{a}" for m, a in registries()}
    assert all(reference.values()), [k for k, v in reference.items() if not v]
    assert {"ytbb-24", "imagenet-vid-30", "refined-bias", "downstream"} <= set(
        reference["biasbench.data.labels.spaces.LABEL_SPACES"]
    )


@pytest.mark.parametrize("order", [k for k in ORDERS if k != "nothing-before"])
def test_every_import_order_gives_the_same_names(order, reference):
    assert resolve(ORDERS[order]) == reference
