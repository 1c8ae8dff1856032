"""Declared options: every set of user-facing options (a probe's parameters, the engine's run options, a study
step) is a ``Declared`` pydantic model whose fields carry their types and ranges. Building one with a bad value
raises a ``ParameterError`` that names each offending option as the user typed it (``--workers``,
``--set shape-bias.bootstrap_reps``), its value and the rule, and an unknown name with the closest known ones.
So options are checked where they are declared, once, when the plan is made, before any model loads.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from biasbench.core.errors import ParameterError


class Declared(BaseModel):
    """Base of a declared set of options: typed, ranged, frozen; unknown names are refused with suggestions.

    ``option_names`` maps a field to the name users type for it (``{"num_workers": "--workers"}``); fields not
    in it are shown by their own name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    option_names: ClassVar[Mapping[str, str]] = {}

    def __init__(self, /, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ParameterError(problems(e, type(self), data)) from None


def problems(error: ValidationError, model: type[BaseModel], given: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(option, what is wrong) per failed field of ``error``: the value and the rule, or an unknown name with
    the closest known ones."""
    names = getattr(model, "option_names", {})
    known = sorted(model.model_fields)
    found = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        where = names.get(field, field) + "".join(f"[{p}]" for p in item["loc"][1:])
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(field, known, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(names.get(c, c)) for c in close)}? " if close else ""
            found.append((where, f"unknown; {hint}(known: {', '.join(names.get(k, k) for k in known)})"))
            continue
        value = given[field] if field in given and len(item["loc"]) == 1 else item.get("input")
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append((where, f"got {value!r}: {message[:1].lower()}{message[1:]}" if field else message))
    return found
