"""The bad-input suite's harness: run ``biasbench`` as a user would (stdout and stderr together) and digest a
results tree, so every row can assert that existing results are byte-identical afterwards."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from biasbench.cli import app


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    output: str  # stdout and stderr together


def run_cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """``biasbench ARGS...`` with ``env`` added to the environment."""
    result = CliRunner().invoke(app, list(args), env=env)
    return CliResult(result.exit_code, result.output)


def tree_digest(path: str | Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``path``."""
    root = Path(path)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
