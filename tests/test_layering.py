"""The import direction of docs/ARCHITECTURE.md, enforced: an AST walk over src/biasbench finds every import of
biasbench (module level, inside functions and under TYPE_CHECKING alike) and checks that it points down the
layers, that no private name crosses a module boundary, and that no source file outgrows one job."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "biasbench"

# Layer → the layers it may import (besides itself and core). Keep in step with docs/ARCHITECTURE.md.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": set(),
    "perturb": set(),
    "attacks": set(),
    "models": set(),
    "data": set(),
    "engine": {"models"},
    "adaptation": {"models"},
    "probes": {"store", "perturb", "attacks", "models", "data", "engine", "adaptation"},
    "run": {"store", "models", "data", "engine", "probes"},
    "analysis": {"store", "data", "models", "probes"},
    "plots": {"analysis", "store", "perturb"},
    "report": {"analysis", "plots", "store"},
    "experiments": {"store", "run", "models", "data", "engine", "probes", "perturb"},
}
# The rooms of the data layer → the rooms they may import (besides themselves and core). ``datasets`` is the
# framework every room shares (Sample, Dataset, DatasetSpec, the dataset registry). Keep in step with
# docs/ARCHITECTURE.md.
DATA_ROOMS: dict[str, set[str]] = {
    "datasets": set(),
    "labels": {"datasets"},
    "catalogue": {"datasets", "labels"},
    "pixels": {"datasets"},
}
# The application layer (entry points) may import every layer.
APPLICATION = {"commands", "cli", "handler", "api", "demo", "__init__"}
MAX_LINES = 400


def layer_of(path: Path) -> str:
    return path.relative_to(SRC).with_suffix("").parts[0]


def imports_of(path: Path) -> list[tuple[int, str, list[str]]]:
    return biasbench_imports(path.read_text(), module_of(path), path.name == "__init__.py")


def module_of(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def biasbench_imports(source: str, module_name: str, is_package: bool = False) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) of every biasbench import in the source of ``module_name``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module_name.split(".") if is_package else module_name.split(".")[:-1]
                module = ".".join(package[: len(package) - node.level + 1] + ([module] if module else []))
            if module == "biasbench" or module.startswith("biasbench."):
                found.append((node.lineno, module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, []) for a in node.names if a.name.startswith("biasbench"))
    return found


def target_layer(module: str, names: list[str]) -> list[str]:
    """Layers reached by ``from module import names`` (``from biasbench import probes`` reaches probes)."""
    parts = module.split(".")
    if len(parts) > 1:
        return [parts[1]]
    return [name for name in names if (SRC / name).is_dir() or (SRC / f"{name}.py").exists()] or ["__init__"]


SOURCES = sorted(SRC.rglob("*.py"))


def test_the_layer_map_covers_every_package():
    layers = {layer_of(p) for p in SOURCES}
    unknown = layers - set(ALLOWED) - APPLICATION
    assert not unknown, f"new top-level package(s) {sorted(unknown)}: give them a place in ALLOWED and ARCHITECTURE.md"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path):
    layer = layer_of(path)
    if layer in APPLICATION:
        return
    allowed = ALLOWED[layer] | {layer, "core"}
    wrong = [
        f"line {line}: {module} ({target})"
        for line, module, names in imports_of(path)
        for target in target_layer(module, names)
        if target not in allowed
    ]
    assert not wrong, f"{layer} may import only {sorted(allowed)}; found " + "; ".join(wrong)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_names_cross_modules(path: Path):
    this = module_of(path)
    private = [
        f"line {line}: {module}.{name}"
        for line, module, names in imports_of(path)
        if module != this
        for name in names
        if name.startswith("_")
        and not name.startswith("__")  # dunders such as __version__ are public
        and not (SRC.joinpath(*module.split(".")[1:], f"{name}.py")).exists()
        and not (SRC.joinpath(*module.split(".")[1:], name)).is_dir()
    ]
    assert not private, "private names imported from another module: " + "; ".join(private)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_source_files_stay_small(path: Path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines; split it by job (limit {MAX_LINES})"


def room_of(module: str) -> str | None:
    """The data room of a dotted module (``biasbench.data.labels.spaces`` → ``labels``), None outside data."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "data" else None


def test_every_data_module_is_in_a_room():
    rooms = {room_of(module_of(p)) for p in SOURCES if layer_of(p) == "data" and module_of(p) != "biasbench.data"}
    assert rooms <= set(DATA_ROOMS), f"data module(s) outside the rooms: {sorted(rooms - set(DATA_ROOMS))}"


@pytest.mark.parametrize("path", [p for p in SOURCES if layer_of(p) == "data"], ids=lambda p: str(p.relative_to(SRC)))
def test_data_rooms_import_only_downwards(path: Path):
    room = room_of(module_of(path))
    if room is None:  # the package's own __init__
        return
    allowed = DATA_ROOMS[room] | {room}
    wrong = [
        f"line {line}: {module} ({room_of(module)})"
        for line, module, _ in imports_of(path)
        if room_of(module) is not None and room_of(module) not in allowed
    ]
    assert not wrong, f"data room {room} may import only {sorted(allowed)} of data; found " + "; ".join(wrong)


def test_the_walk_sees_upward_imports():
    """The checker itself: a relative import inside a function, reaching up, is found and attributed."""
    source = "def f():\n    from ..probes import base\n    from biasbench.engine.inference import Engine\n"
    found = biasbench_imports(source, "biasbench.data.example")
    assert [t for _, module, names in found for t in target_layer(module, names)] == ["probes", "engine"]
