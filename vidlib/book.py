"""Papermill runner: execute ``notebooks/<slug>.md`` per profile, build the book.

``python -m vidlib.book run|build|list`` (``--help`` has examples). A run converts the
MyST notebook with jupytext, reads its ``parameters`` cell with papermill, merges
``notebooks/params/<slug>.<profile>.yaml`` and ``-p NAME VALUE`` overrides, casts each
value to its declared type, injects ``profile`` and ``out_dir`` (the absolute run dir
``<out_root>/<profile>/<slug>/``) and executes into ``<run dir>/<slug>.ipynb``. The
notebook ends with :func:`write_results`; the runner then adds ``inputs_hash``,
``wall_time_s``, ``notebook`` and the merged ``params`` to ``results.json``. A run whose
inputs (notebook source, merged parameters, every ``vidlib/**/*.py``) are unchanged is
skipped as up to date.

Ablation tables are *grids*: ``notebooks/params/<slug>.<profile>.grid.yaml`` names
variants (parameter overrides) and optionally seeds; ``run SLUG --grid`` runs each into
``<run dir>/grid/<variant>[-seed<k>]/`` and ``run --all`` runs a slug's grid before its
notebook, which renders the table with :func:`grid_results` and :func:`grid_table`.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from vidlib.results import (  # noqa: F401 (notebooks import them from here)
    GRID_DIR,
    GRID_INDEX,
    OUT_ROOT_ENV,
    PACKAGE_DIR,
    RESULTS,
    ROOT,
    _flatten,
    _mean_std,
    find_root,
    git_sha,
    grid_results,
    grid_table,
    provenance,
    resolve_out_dir,
    write_results,
)
from vidlib.results import (
    write_json as _write_json,
)

PROFILES = ("smoke", "cpu", "gpu", "paper")
RUNNER_PARAMS = ("profile", "out_dir")  # every notebook declares them; we set them
KINDS = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "list": list,
    "dict": dict,
}
TRUE, FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


class BookError(Exception):
    """Bad input: ``main`` prints ``error: <message>`` and exits with 2."""

    exit_code = 2


class RunFailed(BookError):
    """A notebook or the book build failed (exit code 1)."""

    exit_code = 1


# ------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class Param:
    """A parameter of a notebook's ``parameters`` cell, as papermill reports it."""

    name: str
    annotation: str  # "None" when not annotated
    default: str  # source text
    help: str


def cast_value(param: Param, value: Any, origin: str) -> Any:
    """Cast ``value`` to ``param``'s declared type, parsing strings (e.g. from -p)."""
    kind = param.annotation.replace(" ", "")
    optional = bool(m := re.fullmatch(r"Optional\[(.+)\]|(.+)\|None", kind))
    kind = re.sub(r"^(list|dict)\[.*\]$", r"\1", m[1] or m[2] if m else kind)
    if kind == "None":  # not annotated: the type of the default literal, if any
        with suppress(ValueError, SyntaxError):
            default = ast.literal_eval(param.default)
            kind = type(default).__name__ if default is not None else "None"
        optional = True
    if kind not in KINDS and kind != "None":
        raise BookError(
            f"parameter {param.name!r} has unsupported annotation {param.annotation!r}"
            " (use int, float, bool, str, list, dict, Optional[...])"
        )
    if optional and (value is None or str(value).strip().lower() in ("none", "null")):
        return None
    if isinstance(value, str) and kind != "str":
        text = value.strip()
        if kind == "bool" and text.lower() in TRUE | FALSE:
            return text.lower() in TRUE
        with suppress(ValueError):
            value = {"int": int, "float": float}.get(kind, _parse_text)(text)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    wanted = KINDS.get(kind, object)
    if isinstance(value, wanted) and not (kind == "int" and isinstance(value, bool)):
        return value
    raise BookError(
        f"parameter {param.name!r} expects {param.annotation}, got {value!r}"
        f" (from {origin})"
    )


def _parse_text(text: str) -> Any:
    """A Python literal, else YAML (``[a, b]``), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text


def read_notebook(source: Path) -> tuple[Any, dict[str, Param]]:
    """Convert a MyST notebook with jupytext; return it and its declared parameters."""
    import jupytext
    import nbformat
    import papermill

    try:
        nb = jupytext.read(source, fmt="md:myst")
    except Exception as e:
        raise BookError(f"{_show(source)} is not a readable MyST notebook: {e}") from e
    nb.metadata.setdefault("kernelspec", {"name": "python3", "language": "python"})
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise BookError(f"{_show(source)} has no code cell tagged 'parameters'")
    papermill_log = logging.getLogger("papermill")
    level = papermill_log.level
    papermill_log.setLevel(logging.ERROR)  # its parse warnings are handled below
    try:
        with tempfile.TemporaryDirectory() as tmp:
            nbformat.write(nb, path := Path(tmp) / f"{source.stem}.ipynb")
            found = papermill.inspect_notebook(path).values()
    finally:
        papermill_log.setLevel(level)
    declared = {
        p["name"]: Param(p["name"], p["inferred_type_name"], p["default"], p["help"])
        for p in found
    }
    text = cells[0].source
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise BookError(f"{_show(source)}: invalid parameters cell: {e}") from e
    for node in tree.body:  # lines papermill skips, e.g. "x: int = 1  # H = W"
        if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
            target = getattr(node, "target", None) or node.targets[0]
            if isinstance(target, ast.Name) and target.id not in declared:
                note = getattr(node, "annotation", None)
                line = text.splitlines()[node.end_lineno - 1][node.end_col_offset :]
                declared[target.id] = Param(
                    target.id,
                    ast.get_source_segment(text, note) if note else "None",
                    ast.get_source_segment(text, node.value) or "None",
                    line.partition("#")[2].strip(),
                )
    return nb, declared


# ------------------------------------------------------------------ runs
@dataclass
class Job:
    """A validated run; nothing has been written yet."""

    slug: str
    profile: str
    source: Path
    notebook: Any  # nbformat.NotebookNode converted from the MyST source
    params: dict[str, Any]  # cast values from the params file and -p, plus profile
    run_dir: Path
    inputs_hash: str
    variant: str | None = None  # the grid variant's name, None for the main run

    @property
    def executed(self) -> Path:
        return self.run_dir / f"{self.slug}.ipynb"

    @property
    def results(self) -> Path:
        return self.run_dir / RESULTS


def slugs(notebooks_dir: Path | None = None) -> list[str]:
    """Stems of ``notebooks/*.md``."""
    found = Path(notebooks_dir or ROOT / "notebooks").glob("*.md")
    return sorted(p.stem for p in found if p.stem != "README")


def prepare(
    slug: str,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: Path | None = None,
    out_root: Path | None = None,
    variant: GridVariant | None = None,
) -> Job:
    """Validate a run: profile, slug, params file, parameter names and types.

    A grid ``variant`` adds its overrides between the params file and ``overrides``
    and runs in ``<run dir>/grid/<variant.name>``. The main run's inputs include the
    profile's grid file and the inputs of its last grid run, so it reruns (and reads
    the grid's results again) after the grid has run anew.
    """
    notebooks_dir = Path(notebooks_dir or ROOT / "notebooks")
    _check_profile(profile)
    source = notebooks_dir / f"{slug}.md"
    if not source.is_file():
        known = slugs(notebooks_dir)
        close = difflib.get_close_matches(slug, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ";"
        raise BookError(
            f"unknown notebook {slug!r} (no {_show(source)}){hint}"
            f" available: {', '.join(known) or 'none'}"
        )
    nb, declared = read_notebook(source)
    if missing := [name for name in RUNNER_PARAMS if name not in declared]:
        raise BookError(
            f"{_show(source)}: the parameters cell must declare {', '.join(missing)}"
            ' (profile: str = "smoke", out_dir: str = "_runs/interactive/<slug>")'
        )
    params_file = notebooks_dir / "params" / f"{slug}.{profile}.yaml"
    given = [("-p", dict(overrides or {}))]
    if variant:
        given.insert(0, (variant.origin, variant.overrides))
    if params_file.is_file():
        given.insert(0, (_show(params_file), _read_params_file(params_file)))
    elif profile != "smoke":
        raise BookError(f"profile {profile!r} needs the file {_show(params_file)}")
    params: dict[str, Any] = {}
    for origin, values in given:
        for name, value in values.items():
            if name in RUNNER_PARAMS:
                raise BookError(f"parameter {name!r} is set by the runner ({origin})")
            if name not in declared:
                close = difflib.get_close_matches(name, declared, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise BookError(
                    f"unknown parameter {name!r} for {_show(source)} (from {origin});"
                    f" {hint}it declares: {', '.join(declared)}"
                )
            params[name] = cast_value(declared[name], value, origin)
    params["profile"] = profile
    digest = hashlib.sha256(source.read_bytes())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    run_dir = Path(out_root or ROOT / "_runs").resolve() / profile / slug
    grid = grid_file(slug, profile, notebooks_dir)
    if variant:
        run_dir = run_dir / GRID_DIR / variant.name
    elif grid.is_file():
        digest.update(grid.read_bytes())
        digest.update(_grid_inputs(run_dir).encode())
    name = variant.variant if variant else None
    return Job(slug, profile, source, nb, params, run_dir, digest.hexdigest(), name)


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        choices = ", ".join(PROFILES)
        raise BookError(f"unknown profile {profile!r}; choose one of {choices}")


def _read_params_file(
    path: Path, expected: str = "a YAML mapping of parameter: value"
) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(e, "problem", None) or e
        raise BookError(f"{_show(path)} is not valid YAML{where}: {problem}") from e
    if not isinstance(data, dict | None):
        raise BookError(f"{_show(path)} must be {expected}")
    return data or {}


def status(job: Job) -> str:
    """ "up to date", "stale", "failed" (the last execution raised) or "missing"."""
    if job.executed.is_file() and _failed(job.executed):
        return "failed"
    if not (job.executed.is_file() and job.results.is_file()):
        return "missing"
    with suppress(ValueError, AttributeError):
        if json.loads(job.results.read_text()).get("inputs_hash") == job.inputs_hash:
            return "up to date"
    return "stale"


def _failed(notebook: Path) -> bool:
    try:
        return bool(
            json.loads(notebook.read_text())["metadata"]["papermill"]["exception"]
        )
    except (ValueError, KeyError):
        return True


def execute(job: Job, force: bool = False) -> dict[str, Any]:
    """Execute a prepared job with papermill unless it is up to date; return results."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    label, where = f"{job.slug} [{job.profile}]", _show(job.source)
    if not force and status(job) == "up to date":
        print(f"{label}: up to date ({_show(job.results)}); --force reruns")
        return json.loads(job.results.read_text())
    job.run_dir.mkdir(parents=True, exist_ok=True)
    before = _stamp(job.results)
    print(f"{label}: running {where} -> {_show(job.executed)}", flush=True)
    start = time.perf_counter()
    # the kernel imports this vidlib (the one hashed) and never redirects out_dir
    kernel_env = {
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
        )
    }
    try:
        with (
            mock.patch.dict(os.environ, kernel_env),
            tempfile.TemporaryDirectory() as tmp,
        ):
            os.environ.pop(OUT_ROOT_ENV, None)
            nbformat.write(job.notebook, source := Path(tmp) / f"{job.slug}.ipynb")
            papermill.execute_notebook(
                source,
                job.executed,
                parameters={**job.params, "out_dir": str(job.run_dir)},
                kernel_name="python3",
                cwd=job.run_dir,
                progress_bar=sys.stderr.isatty(),
                log_output=True,
            )
    except PapermillExecutionError as e:
        first_line = (e.source or "").strip().partition("\n")[0][:60]
        raise RunFailed(
            f"{where} [{job.profile}] failed in cell {e.cell_index} ({first_line!r}):"
            f" {e.ename}: {e.evalue}; partially executed notebook: "
            f"{_show(job.executed)}"
        ) from e
    except Exception as e:  # the kernel died or could not start, ...
        raise RunFailed(
            f"{where} [{job.profile}] could not be executed: {type(e).__name__}: {e};"
            f" see {_show(job.executed)}"
        ) from e
    wall = time.perf_counter() - start
    if _stamp(job.results) in (None, before):
        raise RunFailed(
            f"{where} finished without writing {_show(job.results)}; it must end"
            " with vidlib.book.write_results(out_dir, ...)"
        )
    results = json.loads(job.results.read_text())
    results["params"] = {
        **results.get("params", {}),
        **job.params,
        "out_dir": _show(job.run_dir),
    }
    if job.variant:
        results["variant"] = job.variant
    results.update(
        inputs_hash=job.inputs_hash,
        wall_time_s=round(wall, 2),
        notebook=_show(job.executed),
    )
    _write_json(job.results, results)
    print(f"{label}: done in {wall:.1f} s -> {_show(job.results)}")
    return results


def run(
    slug: str,
    profile: str = "smoke",
    overrides: Mapping[str, Any] | None = None,
    *,
    out_root: Path | None = None,
    notebooks_dir: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run one notebook (skipped while up to date) and return its results dict."""
    kwargs = {"notebooks_dir": notebooks_dir, "out_root": out_root}
    return execute(prepare(slug, profile, overrides, **kwargs), force=force)


# ------------------------------------------------------------------ grids
GRID_FORMAT = (
    "a YAML mapping with 'variants' (name: {parameter: value, ...}) and optionally"
    " 'seeds' (a list of ints)"
)


@dataclass(frozen=True)
class GridVariant:
    """One run of a grid: a variant's parameter overrides, with one of the seeds."""

    variant: str
    seed: int | None  # None: the profile's seed
    origin: str  # the grid file, named in errors
    overrides: dict[str, Any]

    @property
    def name(self) -> str:
        """Its folder under ``<run dir>/grid/``."""
        return self.variant if self.seed is None else f"{self.variant}-seed{self.seed}"


def grid_file(slug: str, profile: str, notebooks_dir: Path | None = None) -> Path:
    """``notebooks/params/<slug>.<profile>.grid.yaml``."""
    folder = Path(notebooks_dir or ROOT / "notebooks") / "params"
    return folder / f"{slug}.{profile}.grid.yaml"


def read_grid(path: Path) -> list[GridVariant]:
    """The runs a grid file asks for: every variant once per seed (``GRID_FORMAT``)."""
    data, where = _read_params_file(path, GRID_FORMAT), _show(path)
    if unknown := sorted(set(data) - {"variants", "seeds"}):
        raise BookError(f"{where}: unknown key(s) {unknown}; it must be {GRID_FORMAT}")
    variants = data.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise BookError(f"{where}: 'variants' must be a non-empty mapping")
    seeds = data.get("seeds", [None])
    if (
        not isinstance(seeds, list)
        or not seeds
        or seeds != [None]
        and not all(type(s) is int for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise BookError(f"{where}: 'seeds' must be a list of distinct ints")
    runs = []
    for variant, overrides in variants.items():
        if not re.fullmatch(r"[A-Za-z0-9_.]+", str(variant)):
            raise BookError(
                f"{where}: variant name {variant!r} may only use letters, digits, _ ."
            )
        if not isinstance(overrides, dict | None):
            raise BookError(
                f"{where}: variant {variant!r} must map parameter: value, got"
                f" {overrides!r}"
            )
        if "seed" in (overrides or {}) and "seeds" in data:
            raise BookError(f"{where}: variant {variant!r} sets 'seed'; use 'seeds'")
        for seed in seeds:
            seeded = {} if seed is None else {"seed": seed}
            origin = f"{where}, variant {variant}"
            runs.append(
                GridVariant(variant, seed, origin, {**(overrides or {}), **seeded})
            )
    return runs


def prepare_grid(
    slug: str,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: Path | None = None,
    out_root: Path | None = None,
) -> list[Job]:
    """Validate every run of ``<slug>.<profile>.grid.yaml`` (``-p`` applies to all)."""
    path = grid_file(slug, profile, notebooks_dir)
    if not path.is_file():
        raise BookError(f"no grid for {slug!r} at profile {profile!r}: {_show(path)}")
    variants = read_grid(path)
    varied = {name for v in variants for name in v.overrides}
    if clash := sorted(varied & set(overrides or {})):
        raise BookError(
            f"-p {', '.join(clash)}: the grid {_show(path)} varies"
            f" {'it' if len(clash) == 1 else 'them'}; edit the grid file instead"
        )
    kwargs = {"notebooks_dir": notebooks_dir, "out_root": out_root}
    return [prepare(slug, profile, overrides, variant=v, **kwargs) for v in variants]


def run_grid(jobs: Sequence[Job], force: bool = False) -> list[dict[str, Any]]:
    """Execute a grid's jobs; then record them in ``<run dir>/grid/index.json``."""
    results = [execute(job, force=force) for job in jobs]
    folders = [job.run_dir.name for job in jobs]
    if jobs:
        _write_json(jobs[0].run_dir.parent / GRID_INDEX, {"runs": folders})
    return results


def _grid_inputs(run_dir: Path) -> str:
    """What the main run depends on from its grid: each run's inputs hash."""
    with suppress(BookError, ValueError, KeyError):
        runs = grid_results(run_dir)
        return json.dumps(
            [(r.get("variant"), r["seed"], r["inputs_hash"]) for r in runs]
        )
    return ""


def run_all(
    names: Sequence[str],
    profile: str,
    overrides: Mapping[str, Any],
    *,
    grid: bool = False,
    grids_too: bool = False,
    out_root: Path | None = None,
    force: bool = False,
) -> None:
    """Validate every job first, then run: ``grid`` runs only the slugs' grids;
    ``grids_too`` runs a slug's grid (if its profile has one) before its notebook."""
    plan: list[tuple[str, list[Job], bool]] = []  # slug, grid jobs, run the notebook?
    for slug in names:
        has_grid = grid or (grids_too and grid_file(slug, profile).is_file())
        jobs = (
            prepare_grid(slug, profile, overrides, out_root=out_root)
            if has_grid
            else []
        )
        if not grid:
            prepare(slug, profile, overrides, out_root=out_root)  # validate it now
        plan.append((slug, jobs, not grid))
    for slug, jobs, notebook in plan:
        if jobs:
            run_grid(jobs, force=force)
        if notebook:  # prepared again: its inputs include the grid just run
            execute(prepare(slug, profile, overrides, out_root=out_root), force=force)


def _stamp(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_ino, path.stat().st_mtime_ns) if path.exists() else None


def _show(path: Path) -> str:
    """``path`` relative to the repository (or cwd) when inside it, else absolute."""
    path = Path(path).resolve()
    base = next((b for b in (ROOT, Path.cwd()) if path.is_relative_to(b)), None)
    return path.relative_to(base).as_posix() if base else str(path)


# ------------------------------------------------------------------ book
def toc_slugs(toc: Path | None = None) -> list[str]:
    """Slugs the table of contents includes as ``book/generated/<slug>``."""
    toc = Path(toc or ROOT / "book" / "_toc.yml")
    if not toc.is_file():
        raise BookError(f"no table of contents at {_show(toc)}")
    return re.findall(
        r"file:\s*['\"]?book/generated/([\w.-]+?)(?:\.ipynb)?['\"]?\s*$",
        toc.read_text(),
        flags=re.MULTILINE,
    )


def build(
    profile: str, *, out: Path | None = None, out_root: Path | None = None
) -> Path:
    """Stage executed notebooks into ``book/generated``, build with Jupyter Book 1.

    HTML lands in ``<out>/_build/html`` (JB1's ``--path-output``); ``out`` defaults to
    the repository, so the default is ``_build/html``. Returns the HTML folder.
    """
    _check_profile(profile)
    out_root = Path(out_root or ROOT / "_runs").resolve()
    sources = {s: out_root / profile / s / f"{s}.ipynb" for s in toc_slugs()}
    if bad := [s for s, p in sources.items() if not p.is_file() or _failed(p)]:
        raise BookError(
            f"no successfully executed notebook for profile {profile!r}:"
            f" {', '.join(_show(sources[s]) for s in bad)}; produce them with:"
            f" python -m vidlib.book run {' '.join(bad)} --profile {profile}"
        )
    staged = ROOT / "book" / "generated"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for slug, src in sources.items():
        nb = json.loads(src.read_text())
        for cell in nb["cells"]:  # show out_dir relative to the repo, not this machine
            if "injected-parameters" in cell["metadata"].get("tags", []):
                cell["source"] = "".join(cell["source"]).replace(f"{ROOT}{os.sep}", "")
        (staged / f"{slug}.ipynb").write_text(json.dumps(nb, indent=1) + "\n")
    vendor_mathjax()
    out = Path(out or ROOT).resolve()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT), "--toc"]
    cmd += [str(ROOT / "book" / "_toc.yml"), "-W", "-n", "--keep-going"]
    cmd += ["--path-output", str(out)]
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise RunFailed("jupyter-book build failed (warnings are errors); see above")
    print(f"HTML: {_show(out / '_build' / 'html' / 'index.html')}")
    return out / "_build" / "html"


def vendor_mathjax() -> Path:
    """Copy MathJax 2 (from the jupyter-server-mathjax wheel) into ``_vendor/mathjax``.

    ``_config.yml`` points Sphinx at it, so equations render without the internet.
    """
    import jupyter_server_mathjax

    target = ROOT / "_vendor" / "mathjax"
    if not (target / "MathJax.js").is_file():
        source = Path(jupyter_server_mathjax.__file__).parent / "static"
        shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def list_runs(out_root: Path | None = None) -> list[tuple[str, str, str, str]]:
    """(slug, profile, params file, status) for smoke and each profile with a file."""
    rows = []
    for slug in slugs():
        for profile in PROFILES:
            params_file = ROOT / "notebooks" / "params" / f"{slug}.{profile}.yaml"
            if profile != "smoke" and not params_file.is_file():
                continue
            try:
                state = status(prepare(slug, profile, out_root=out_root))
            except BookError as e:
                state = f"error: {e}"
            shown = _show(params_file) if params_file.is_file() else "(defaults)"
            rows.append((slug, profile, shown, state))
    return rows


# ------------------------------------------------------------------ CLI
EXAMPLES = """\
examples:
  python -m vidlib.book list
  python -m vidlib.book run shapes --profile smoke
  python -m vidlib.book run --all --profile cpu
  python -m vidlib.book run g3an --profile gpu -p steps 20000 -p seed 1 --force
  python -m vidlib.book run mocogan --profile cpu -p shapes "[circle, square]"
  python -m vidlib.book run g3an --profile cpu --grid  # the ablation grid only
  python -m vidlib.book build --profile cpu          # HTML in _build/html
  python -m vidlib.book build --profile smoke --out _build/smoke
                                    # HTML in _build/smoke/_build/html

profiles: smoke (the notebook's defaults; notebooks/params/<slug>.smoke.yaml is
optional), cpu, gpu, paper (each needs notebooks/params/<slug>.<profile>.yaml).
A run writes <out-root>/<profile>/<slug>/: <slug>.ipynb, results.json and whatever the
notebook saves there; it is skipped while the notebook source, the merged parameters
and vidlib/**/*.py are unchanged. Bad input exits 2; a failed notebook or build, 1.
A grid (notebooks/params/<slug>.<profile>.grid.yaml: 'variants' name -> parameter
overrides, optional 'seeds' list) runs each variant (x seed) into
<out-root>/<profile>/<slug>/grid/<variant>[-seed<k>]/; the notebook reads them with
vidlib.book.grid_results(out_dir) and shows vidlib.book.grid_table(...).
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    formatting = {"epilog": EXAMPLES, "formatter_class": argparse.RawTextHelpFormatter}
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.book",
        description="Run the book's notebooks with papermill; build the book.",
        **formatting,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks with papermill", **formatting)
    p_run.add_argument("slugs", nargs="*", metavar="SLUG", help="notebooks/<SLUG>.md")
    p_run.add_argument("--all", action="store_true", help="every notebooks/*.md")
    p_run.add_argument(
        "-p",
        dest="overrides",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter (cast to its declared type)",
    )
    p_run.add_argument("--force", action="store_true", help="rerun even if up to date")
    p_run.add_argument(
        "--grid",
        action="store_true",
        help="run the variants of notebooks/params/<SLUG>.<profile>.grid.yaml\n"
        "(--all runs each existing grid before its notebook)",
    )
    p_build = sub.add_parser(
        "build", help="stage executed notebooks, build HTML", **formatting
    )
    p_build.add_argument(
        "--out",
        type=Path,
        help="JB --path-output: HTML goes to "
        "<OUT>/_build/html (default: the repository)",
    )
    p_list = sub.add_parser("list", help="notebooks, profiles, run status")
    for p in (p_run, p_build):
        p.add_argument("--profile", required=True, help=" | ".join(PROFILES))
    for p in (p_run, p_build, p_list):
        p.add_argument(
            "--out-root",
            type=Path,
            help="run dirs are <OUT_ROOT>/<profile>/<slug> (default: _runs)",
        )
    args = parser.parse_args(argv)

    log = logging.getLogger("papermill")  # papermill streams cell output to it
    if not log.handlers:
        log.addHandler(logging.StreamHandler())
        log.setLevel(logging.INFO)
    try:
        if args.command == "run":
            if bool(args.slugs) == args.all:
                raise BookError("give notebook slugs or --all (not both)")
            names = slugs() if args.all else args.slugs
            if not names:
                raise BookError(f"no notebooks in {_show(ROOT / 'notebooks')}")
            run_all(
                names,
                args.profile,
                dict(args.overrides),
                grid=args.grid,
                grids_too=args.all,
                out_root=args.out_root,
                force=args.force,
            )
        elif args.command == "build":
            build(args.profile, out=args.out, out_root=args.out_root)
        else:
            rows = [("SLUG", "PROFILE", "PARAMS FILE", "STATUS")]
            rows += list_runs(args.out_root)
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            for *cells, state in rows:
                print(*(c.ljust(w) for c, w in zip(cells, widths, strict=True)), state)
    except BookError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
