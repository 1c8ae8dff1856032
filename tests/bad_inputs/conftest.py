"""The harness of the bad-input suite: run the ``biasbench`` command in this process through the same top-level
handler users hit (``biasbench.handler.HandledGroup`` is the command group's class, so ``typer``'s test runner
takes the console entry point's path), and fingerprint folders to show that existing results are untouched.

Interface for every table of cases in this folder:

- ``CliResult(exit_code, output)``: stdout and stderr together;
- ``run_cli(*args, env=None)``: ``biasbench ARGS...`` with extra environment variables;
- ``tree_digest(path)``: relative file path → sha256 of every file under ``path``.

Fixtures shared by the tables: ``data`` (a generated data root: imagenet-sample and cue-conflict in their real
layouts), ``good_results`` (a finished results directory: accuracy and shape-bias on 8 images of each),
``checkpoints`` (a tiny timm ``test_resnet`` as an intact, a truncated and an HTML ``.safetensors``), and
``denied`` (makes paths unreadable or unwritable, for root as well).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from biasbench.cli import app
from tests.conftest import TINY_MODEL


@dataclass(frozen=True)
class CliResult:
    """What a user sees: the exit status and everything printed (stdout and stderr together)."""

    exit_code: int
    output: str


def run_cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """``biasbench ARGS...`` in this process, through the top-level handler; an exception that escapes it
    (a bug) is appended to the output as its traceback."""
    result = CliRunner().invoke(app, list(args), env={"HF_HUB_OFFLINE": "1", **(env or {})}, catch_exceptions=True)
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += "".join(traceback.format_exception(result.exception))
    return CliResult(result.exit_code, output)


def tree_digest(path: str | os.PathLike[str]) -> dict[str, str]:
    """Relative file path → sha256 of every file under ``path`` (empty when it does not exist)."""
    root = Path(path)
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def data(generated_root) -> Path:
    """A data root with imagenet-sample (1000 tiny JPEGs) and cue-conflict (1280 tiny PNGs)."""
    return generated_root


@pytest.fixture(scope="session")
def good_results(data, tmp_path_factory) -> Path:
    """A finished results directory: accuracy on imagenet-sample and shape-bias on cue-conflict, 8 images each."""
    out = tmp_path_factory.mktemp("good") / "results"
    result = run_cli(*run_args(data, out), "--limit", "8")
    assert result.exit_code == 0, result.output
    return out


def run_args(data: Path, out: Path, *models: str) -> list[str]:
    """``run`` of accuracy and shape-bias with ``models`` (default: the tiny random model) into ``out``."""
    model_args = [a for m in (models or (TINY_MODEL,)) for a in ("-m", m)]
    return ["run", *model_args, "-p", "accuracy", "-p", "shape-bias", "--data-root", str(data), "--out", str(out)]


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A tiny timm ``test_resnet`` as safetensors: ``good``, ``truncated`` (half the bytes), ``html`` (a web page
    saved under the checkpoint's name, as failed downloads leave them)."""
    import timm
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("checkpoints")
    net = timm.create_model("test_resnet", pretrained=False)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, folder / "good.safetensors")
    raw = (folder / "good.safetensors").read_bytes()
    (folder / "truncated.safetensors").write_bytes(raw[: len(raw) // 2])
    (folder / "html.safetensors").write_text(
        "<!DOCTYPE html><html><body>Google Drive - virus scan warning</body></html>"
    )
    return {
        "good": folder / "good.safetensors",
        "truncated": folder / "truncated.safetensors",
        "html": folder / "html.safetensors",
    }


def copy_tree(source: Path, target: Path) -> Path:
    """A copy of ``source`` at ``target`` whose files are hard links (cheap; replace a file to change it)."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


# Linux capabilities that let root read and write regardless of a file's mode (capabilities(7)).
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


@contextmanager
def _without_root_override() -> Iterator[None]:
    """Root obeys file modes inside this block: this thread's effective set loses the two DAC capabilities
    (they stay permitted, so they come back after). The command runs in this thread (no data-loader workers
    for the suite's small datasets)."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        pytest.skip("cannot read this thread's capabilities (capget), so root cannot be denied access")
    saved = data[0].effective
    data[0].effective &= ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH))
    assert libc.capset(ctypes.byref(header), data) == 0, ctypes.get_errno()
    try:
        yield
    finally:
        data[0].effective = saved
        assert libc.capset(ctypes.byref(header), data) == 0, ctypes.get_errno()


@pytest.fixture()
def denied():
    """``with denied(path, mode):`` the block runs with ``path`` at ``mode`` (e.g. 0o000 unreadable, 0o555 not
    writable), enforced for root too; the mode is restored after."""

    @contextmanager
    def deny(path: Path, mode: int) -> Iterator[None]:
        before = path.stat().st_mode & 0o777
        path.chmod(mode)
        try:
            if os.geteuid() == 0:
                with _without_root_override():
                    yield
            else:
                yield
        finally:
            path.chmod(before)

    return deny
