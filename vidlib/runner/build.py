"""The book: stage executed notebooks into ``book/generated``, build with Jupyter
Book 1, MathJax and the ipywidgets manager vendored (:mod:`vidlib.runner.vendor`) so
equations and widgets render offline.

Staging tags the ``parameters`` and ``injected-parameters`` cells ``remove-cell``:
a reader sees the run's record through :func:`vidlib.results.record_summary`, not
the parameters cells.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from vidlib.results import ROOT
from vidlib.runner import cache
from vidlib.runner.errors import RunFailed, RunnerError, show
from vidlib.runner.params import check_profile
from vidlib.runner.vendor import vendor_mathjax, vendor_widgets

HIDDEN = ("parameters", "injected-parameters")  # cell tags the book removes
#: staged beside the notebooks, copied to the HTML root (``html_extra_path``)
PARAMS_EXTRA = "extra"


def toc_slugs(toc: Path | None = None) -> list[str]:
    """Slugs the table of contents includes as ``book/generated/<slug>``."""
    toc = Path(toc or ROOT / "book" / "_toc.yml")
    if not toc.is_file():
        raise RunnerError(f"no table of contents at {show(toc)}")
    return re.findall(
        r"file:\s*['\"]?book/generated/([\w.-]+?)(?:\.ipynb)?['\"]?\s*$",
        toc.read_text(),
        flags=re.MULTILINE,
    )


def stage(notebook: dict[str, Any]) -> dict[str, Any]:
    """An executed notebook as the book shows it: parameters cells removed, paths
    relative to the repository."""
    for cell in notebook["cells"]:
        tags = cell["metadata"].setdefault("tags", [])
        if any(tag in tags for tag in HIDDEN):
            if "remove-cell" not in tags:
                tags.append("remove-cell")
            # the downloadable notebook keeps them: no paths of this machine
            cell["source"] = "".join(cell["source"]).replace(f"{ROOT}{os.sep}", "")
    return notebook


def stage_params(folder: Path) -> Path:
    """Copy ``notebooks/params/*.yaml`` to ``<folder>/params``: ``_config.yml`` lists
    ``folder`` in ``html_extra_path``, so the HTML has ``params/<file>`` at its root
    and each chapter's run record links the file that set it."""
    target = folder / "params"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "notebooks" / "params").glob("*.yaml")):
        shutil.copy2(path, target / path.name)
    return target


def build(
    profile: str, *, out: Path | None = None, out_root: Path | None = None
) -> Path:
    """Stage executed notebooks into ``book/generated``, build with Jupyter Book 1.

    HTML lands in ``<out>/_build/html`` (JB1's ``--path-output``); ``out`` defaults to
    the repository, so the default is ``_build/html``. Returns the HTML folder.
    """
    check_profile(profile)
    root = cache.out_root(out_root)
    sources = {s: root / profile / s / f"{s}.ipynb" for s in toc_slugs()}
    if bad := [s for s, p in sources.items() if not p.is_file() or cache.failed(p)]:
        raise RunnerError(
            f"no successfully executed notebook for profile {profile!r}:"
            f" {', '.join(show(sources[s]) for s in bad)}; produce them with:"
            f" python -m vidlib.runner run {' '.join(bad)} --profile {profile}"
        )
    staged = ROOT / "book" / "generated"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for slug, src in sources.items():
        notebook = stage(json.loads(src.read_text()))
        (staged / f"{slug}.ipynb").write_text(json.dumps(notebook, indent=1) + "\n")
    stage_params(staged / PARAMS_EXTRA)
    vendor_mathjax()
    vendor_widgets()
    out = Path(out or ROOT).resolve()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT), "--toc"]
    cmd += [str(ROOT / "book" / "_toc.yml"), "-W", "-n", "--keep-going"]
    cmd += ["--path-output", str(out)]
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        raise RunFailed("jupyter-book build failed (warnings are errors); see above")
    print(f"HTML: {show(out / '_build' / 'html' / 'index.html')}")
    return out / "_build" / "html"
