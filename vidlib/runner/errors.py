"""The runner's errors, and how it names files in messages."""

from __future__ import annotations

from pathlib import Path

from vidlib.results import ROOT


class RunnerError(Exception):
    """Bad input: the CLI prints ``error: <message>`` and exits with 2."""

    exit_code = 2


class RunFailed(RunnerError):
    """A notebook, a grid run or the book build failed (exit code 1)."""

    exit_code = 1


class MissingRun(RunnerError):
    """A chapter needs a run that does not exist yet."""


def show(path: str | Path) -> str:
    """``path`` relative to the repository (or cwd) when inside it, else absolute."""
    path = Path(path).resolve()
    base = next((b for b in (ROOT, Path.cwd()) if path.is_relative_to(b)), None)
    return path.relative_to(base).as_posix() if base else str(path)
