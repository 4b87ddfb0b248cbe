"""The chapters: ``notebooks/<slug>.md``, their parameters cell and front matter.

A chapter's ``parameters`` cell declares ``profile`` and ``out_dir`` (set by the
runner), usually ``record: dict = {...}`` (the smoke overrides of its experiment
record, see :mod:`vidlib.record`) and a few typed chapter knobs. Its MyST front matter
may name the runs it reads::

    vidlib:
      needs: [mocogan]
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vidlib.hints import did_you_mean
from vidlib.record import RecordError, nest
from vidlib.results import ROOT
from vidlib.runner.errors import RunnerError, show

RUNNER_PARAMS = ("profile", "out_dir")  # every notebook declares them; we set them
RECORD = "record"  # the parameter holding the experiment record's overrides
FRONT_MATTER_KEYS = ("needs",)  # what the front matter's ``vidlib:`` may hold


@dataclass(frozen=True)
class Param:
    """A name of a notebook's ``parameters`` cell."""

    name: str
    annotation: str  # source text; "None" when not annotated
    default: str  # source text


@dataclass
class Notebook:
    """A chapter converted from MyST, with its parameters (``needs``: see
    :func:`read_needs`)."""

    slug: str
    source: Path
    nb: Any  # nbformat.NotebookNode
    declared: dict[str, Param]
    record: dict[str, Any] | None  # the nested default record; None: none declared

    @property
    def knobs(self) -> list[str]:
        """The chapter's own parameters (neither the runner's nor the record)."""
        return [n for n in self.declared if n not in (*RUNNER_PARAMS, RECORD)]


def notebooks_folder(folder: Path | None = None) -> Path:
    return Path(folder or ROOT / "notebooks")


def slugs(folder: Path | None = None) -> list[str]:
    """Stems of ``notebooks/*.md``, sorted."""
    found = notebooks_folder(folder).glob("*.md")
    return sorted(p.stem for p in found if p.stem != "README")


def source(slug: str, folder: Path | None = None) -> Path:
    """``notebooks/<slug>.md``; an error with close matches when there is none."""
    path = notebooks_folder(folder) / f"{slug}.md"
    if not path.is_file():
        known = slugs(folder)
        hint = f"; {did_you_mean(slug, known, n=3).strip()}".rstrip()
        raise RunnerError(
            f"unknown notebook {slug!r} (no {show(path)}){hint}"
            f" available: {', '.join(known) or 'none'}"
        )
    return path


def read_needs(path: Path) -> tuple[str, ...]:
    """``vidlib: needs: [...]`` of the MyST front matter (``()`` without one)."""
    match = re.match(r"---\n(.*?)\n---\n", path.read_text(), re.DOTALL)
    try:
        front = yaml.safe_load(match[1]) if match else {}
    except yaml.YAMLError as e:
        raise RunnerError(f"{show(path)}: front matter is not valid YAML: {e}") from e
    section = (front or {}).get("vidlib") or {}
    if not isinstance(section, dict):
        raise RunnerError(f"{show(path)}: front matter 'vidlib' must be a mapping")
    if unknown := sorted(set(section) - set(FRONT_MATTER_KEYS)):
        raise RunnerError(
            f"{show(path)}: unknown front matter key(s) vidlib.{unknown[0]};"
            f" allowed: {', '.join(FRONT_MATTER_KEYS)}"
        )
    needs = section.get("needs", [])
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise RunnerError(
            f"{show(path)}: vidlib.needs must be a list of notebook slugs, got"
            f" {needs!r}"
        )
    return tuple(needs)


def read_notebook(slug: str, folder: Path | None = None) -> Notebook:
    """Convert ``notebooks/<slug>.md`` with jupytext and read its parameters."""
    import jupytext

    path = source(slug, folder)
    try:
        nb = jupytext.read(path, fmt="md:myst")
    except Exception as e:
        raise RunnerError(f"{show(path)} is not a readable MyST notebook: {e}") from e
    nb.metadata.setdefault("kernelspec", {"name": "python3", "language": "python"})
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise RunnerError(f"{show(path)} has no code cell tagged 'parameters'")
    declared, record = _parameters(cells[0].source, show(path))
    if missing := [name for name in RUNNER_PARAMS if name not in declared]:
        raise RunnerError(
            f"{show(path)}: the parameters cell must declare {', '.join(missing)}"
            ' (profile: str = "smoke", out_dir: str = "_runs/interactive/<slug>")'
        )
    return Notebook(slug, path, nb, declared, record)


def _parameters(text: str, where: str) -> tuple[dict[str, Param], dict | None]:
    """The names a parameters cell assigns, and its ``record`` literal (nested)."""
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise RunnerError(f"{where}: invalid parameters cell: {e}") from e
    declared, record = {}, None
    for node in tree.body:
        if not isinstance(node, ast.AnnAssign | ast.Assign) or node.value is None:
            continue
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        note = getattr(node, "annotation", None)
        declared[target.id] = Param(
            target.id,
            ast.get_source_segment(text, note) if note else "None",
            ast.get_source_segment(text, node.value) or "None",
        )
        if target.id == RECORD:
            try:
                value = ast.literal_eval(node.value)
                if not isinstance(value, dict):
                    raise ValueError(f"got {type(value).__name__}")
                record = nest(value, f"{where}: record")
            except (ValueError, RecordError) as e:
                raise RunnerError(
                    f"{where}: the parameters cell's record must be a dict literal of"
                    f" record sections ({e})"
                ) from None
    return declared, record
