"""Zoo files: TOML lists of named models (id, source spec, category, citation).

The zoo files shipped with biasbench live in ``biasbench/models/zoos/``; a user can pass their own file
anywhere a zoo name is accepted.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from biasbench.core.errors import BiasbenchError, UnknownNameError

if TYPE_CHECKING:
    import pandas as pd

ZOO_DIR = Path(__file__).parent / "zoos"


@dataclass(frozen=True)
class ZooEntry:
    id: str
    source: str
    category: str = ""
    citation: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Zoo:
    name: str
    description: str
    models: tuple[ZooEntry, ...]


def available_zoos() -> list[str]:
    return sorted(p.stem for p in ZOO_DIR.glob("*.toml"))


@cache
def load_zoo(name_or_path: str) -> Zoo:
    """A shipped zoo by name, or a zoo TOML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = ZOO_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise UnknownNameError("zoo", name_or_path, available_zoos(), hint="Or pass the path of a zoo TOML file.")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BiasbenchError(f"cannot read zoo file {path}: {e}") from e
    meta = data.get("zoo", {})
    # `extends = "other"` starts from another zoo's models; a row with a known id overrides only its given keys
    rows: dict[str, dict] = {}
    if meta.get("extends"):
        base = load_zoo(meta["extends"])
        rows = {
            e.id: {"id": e.id, "source": e.source, "category": e.category, "citation": e.citation, **e.extra}
            for e in base.models
        }
    for row in data.get("model", []):
        if "id" not in row:
            raise BiasbenchError(f"zoo file {path}: a [[model]] has no id")
        rows[row["id"]] = {**rows.get(row["id"], {}), **row}
    entries = []
    for row in rows.values():
        if "source" not in row:
            raise BiasbenchError(f"zoo file {path}: model {row['id']!r} has no source")
        entries.append(
            ZooEntry(row.pop("id"), row.pop("source"), row.pop("category", ""), row.pop("citation", ""), row)
        )
    return Zoo(meta.get("name", path.stem), meta.get("description", ""), tuple(entries))


def named_models() -> dict[str, ZooEntry]:
    """Every model id of every shipped zoo."""
    return {entry.id: entry for zoo in available_zoos() for entry in load_zoo(zoo).models}


def resolve_named_model(name: str) -> str:
    """The source spec of a named model."""
    models = named_models()
    if name not in models:
        raise UnknownNameError(
            "model", name, models, hint="Use a named model or a spec like 'timm:resnet50' ('biasbench models')."
        )
    return models[name].source


def zoo_categories() -> pd.Series:
    """Category of every named model of the shipped zoos (model id → category), for analysis subsets."""
    import pandas as pd  # noqa: F811  (lazy: the CLI imports this module on every start)

    series = pd.Series({entry.id: entry.category for entry in named_models().values()}, name="category")
    series.index.name = "model"
    return series
