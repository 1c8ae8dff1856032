"""The top-level handler itself: ``--debug``, bugs, interruptions, the system's errors inside a job, help texts."""

from __future__ import annotations

import errno

import pytest

from tests.bad_inputs.conftest import run_args, run_cli


def test_debug_shows_the_traceback_of_a_user_error(data, tmp_path):
    args = [*run_args(data, tmp_path / "out"), "--limit", "-1"]
    plain = run_cli(*args)
    assert plain.exit_code == 2 and "Traceback" not in plain.output and "invalid option --limit" in plain.output
    for debug in (run_cli(*args, "--debug"), run_cli("--debug", *args), run_cli(*args, env={"BIASBENCH_DEBUG": "1"})):
        assert debug.exit_code == 2 and "Traceback (most recent call last)" in debug.output
        assert "ParameterError" in debug.output and "error: invalid option --limit" in debug.output


def test_a_bug_still_shows_its_traceback(good_results, monkeypatch):
    def broken(directory):
        raise RuntimeError("an unexpected state")

    monkeypatch.setattr("biasbench.store.results.load_results", broken)
    result = run_cli("results", str(good_results))
    assert result.exit_code == 1 and "Traceback (most recent call last)" in result.output
    assert "RuntimeError: an unexpected state" in result.output and "bug in biasbench" in result.output


def test_an_interruption_says_what_is_kept(good_results, monkeypatch):
    def interrupted(directory):
        raise KeyboardInterrupt

    monkeypatch.setattr("biasbench.store.results.load_results", interrupted)
    result = run_cli("results", str(good_results))
    assert result.exit_code == 130 and "finished jobs are kept" in result.output and "Traceback" not in result.output


def test_a_full_disk_fails_the_job_with_one_line(data, tmp_path, monkeypatch):
    def full(self, key, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.jobs / f"{key}.records.parquet"))

    monkeypatch.setattr("biasbench.store.results.ResultsStore.write", full)
    result = run_cli(*run_args(data, tmp_path / "out"), "--limit", "4")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "no space left on the device writing" in result.output
        and "Free space, or write to another disk" in result.output
    )


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["report"], ["JSON {category: [model, ...]}", "[PROBE:]FIELD=VALUE"]),
        (["explain"], ["JSON {category: [model, ...]}"]),
        (["run"], ["--limit-mode", "balanced (default) or first"]),
        ([], ["--debug", "verify"]),
    ],
)
def test_help_renders_every_bracket(command, shown):
    result = run_cli(*command, "--help", env={"COLUMNS": "400"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    for words in shown:
        assert words in text, text
