"""The runner ``vidlib.runner`` on throwaway notebooks in a temporary notebooks dir.

Most tests validate without a kernel. Papermill is replaced by ``fake_papermill``
(it writes what a chapter writes) where only the runner's bookkeeping is under test;
``test_run_caches_forces_and_keeps_results_on_failure`` starts real kernels and
``test_grid_runs_through_run_experiment`` trains a tiny MoCoGAN twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import papermill
import pytest

from vidlib import runner
from vidlib.results import ROOT, grid_results, grid_table, write_results
from vidlib.runner import build as book_build
from vidlib.runner.cli import main
from vidlib.runner.errors import MissingRun, RunFailed, RunnerError
from vidlib.runner.grids import prepare_grid, run_grid
from vidlib.runner.notebooks import Param
from vidlib.runner.order import ordered
from vidlib.runner.params import cast_value
from vidlib.runner.plan import kernel_threads

# a MoCoGAN small enough to train two steps in seconds
TINY = {
    "data": {"resolution": 16, "frames": 6, "shapes": ["circle", "square"], "size": 8},
    "model": {
        "name": "mocogan",
        "ngf": 4,
        "ndf": 4,
        "dim_z_content": 4,
        "dim_z_motion": 2,
        "video_temporal_padding": 1,
    },
    "train": {"steps": 2, "batch_size": 4, "progress": False, "device": "cpu"},
    "eval": {"metrics": ["mfd"], "num": 4},
}

CHAPTER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
{front}---

# {slug}

```{{code-cell}} ipython3
:tags: [parameters]

profile: str = "smoke"  # set by the runner
out_dir: str = "_runs/interactive/{slug}"  # set by the runner
{record}scale: float = 1.0  # a chapter knob
sizes: list[int] = [1, 2]  # another
fail: bool = False  # raise in the body
pause: float = 0.0  # seconds of sleep before the results are written
```

```{{code-cell}} ipython3
import time

from vidlib.results import resolve_out_dir, write_results

out = resolve_out_dir(out_dir, "{slug}")
if fail:
    raise ValueError("boom")
time.sleep(pause)
(out / "samples.txt").write_text("x")
write_results(
    out, slug="{slug}", profile=profile, seed=0, record={record_value},
    params={{"written_by": "notebook"}},
    metrics={{"loss": {{"value": scale, "protocol": "toy-v1"}}}},
    artifacts={{"samples": "samples.txt"}},
)
```
"""


def chapter(
    folder: Path,
    slug: str,
    needs: tuple[str, ...] = (),
    record: dict | None = TINY,
    scale: float = 1.0,
) -> Path:
    """Write ``<folder>/<slug>.md``: a chapter declaring ``record`` (unless None)."""
    front = f"vidlib:\n  needs: [{', '.join(needs)}]\n" if needs else ""
    text = CHAPTER.format(
        slug=slug,
        front=front,
        record=f"record: dict = {record!r}  # smoke\n" if record is not None else "",
        record_value="record" if record is not None else "{}",
    ).replace("scale: float = 1.0", f"scale: float = {scale}")
    path = folder / f"{slug}.md"
    path.write_text(text)
    return path


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    """A notebooks/ folder with toy.md and a cpu params file."""
    folder = tmp_path / "notebooks"
    (folder / "params").mkdir(parents=True)
    chapter(folder, "toy")
    params = "model: {name: mocogan, ngf: 8}\ntrain: {steps: 3, batch_size: 2}\n"
    (folder / "params" / "toy.cpu.yaml").write_text(params + "scale: 2\n")
    return folder


def prep(notebooks: Path, profile: str = "smoke", slug: str = "toy", **overrides):
    out_root = notebooks.parent / "runs"
    return runner.prepare(
        slug, profile, overrides, notebooks_dir=notebooks, out_root=out_root
    )


@pytest.fixture
def fake_papermill(monkeypatch) -> list[str]:
    """Papermill replaced by a function that writes what the toy chapter writes;
    returns the slugs it executed, in order."""
    executed = []

    def execute_notebook(source, output, parameters, **_: Any) -> None:
        slug = Path(output).stem
        executed.append(slug)
        out = Path(parameters["out_dir"])
        (out / "samples.txt").write_text("x")
        write_results(
            out,
            slug=slug,
            profile=parameters["profile"],
            seed=0,
            record=parameters.get("record"),
            metrics={"loss": {"value": parameters.get("scale", 1.0), "protocol": "p"}},
        )
        Path(output).write_text(
            json.dumps({"metadata": {"papermill": {"exception": None}}})
        )

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    return executed


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize(
    "annotation, default, value, expected",
    [
        ("int", "0", "500", 500),
        ("float", "0.0", "1e-3", 1e-3),
        ("float", "0.0", 2, 2.0),
        ("bool", "False", "yes", True),
        ("str", '""', "abc", "abc"),
        ("list", "[]", "[circle, square]", ["circle", "square"]),
        ("list[int]", "[]", "[1, 2]", [1, 2]),  # items are not checked
        ("int | None", "None", "null", None),
        ("dict", "{}", "{a: 1}", {"a": 1}),
        ("None", "0.5", "2", 2.0),  # not annotated: the default's type
    ],
)
def test_cast_value(annotation, default, value, expected):
    cast = cast_value(Param("x", annotation, default), value, "-p")
    assert cast == expected and type(cast) is type(expected)


@pytest.mark.parametrize(
    "annotation, value",
    [("int", "abc"), ("int", True), ("bool", "maybe"), ("str", 5), ("list", "3")],
)
def test_cast_value_rejects(annotation, value):
    with pytest.raises(RunnerError, match=rf"'x' expects {annotation}.*from -p"):
        cast_value(Param("x", annotation, "0"), value, "-p")


def test_smoke_injects_the_notebooks_record_and_knobs(notebooks):
    job = prep(notebooks)
    assert job.params.overrides == TINY
    assert job.params.record.model["ngf"] == 4
    assert job.params.injected("smoke") == {
        "record": TINY,
        "profile": "smoke",
    }
    assert job.run_dir == (notebooks.parent / "runs" / "smoke" / "toy").resolve()


def test_params_file_replaces_the_record_and_sets_knobs(notebooks):
    job = prep(notebooks, "cpu")
    # the file's record sections replace the notebook's: data and eval are defaults
    assert job.params.overrides == {
        "model": {"name": "mocogan", "ngf": 8},
        "train": {"steps": 3, "batch_size": 2},
    }
    assert job.params.record.data.frames == 16 and job.params.record.eval.metrics == ()
    assert job.params.knobs == {"scale": 2.0}


def test_dotted_p_overrides_the_record_and_p_sets_knobs(notebooks):
    job = prep(notebooks, "cpu", **{"model.ngf": "16", "train": "{seed: 3}"}, scale="5")
    assert job.params.overrides["model"] == {"name": "mocogan", "ngf": 16}
    assert job.params.overrides["train"] == {"steps": 3, "batch_size": 2, "seed": 3}
    assert job.params.record.seed == 3
    assert job.params.knobs == {"scale": 5.0}
    injected = job.params.injected("cpu")
    assert injected["record"]["model"]["ngf"] == 16 and injected["scale"] == 5.0
    same = prep(notebooks, "cpu", **{"model.ngf": 16, "train.seed": 3}, scale=5)
    assert same.inputs_hash == job.inputs_hash
    assert prep(notebooks, "cpu", **{"model.ngf": 15}).inputs_hash != job.inputs_hash


@pytest.mark.parametrize(
    "params_yaml, overrides, message",
    [
        (
            "modle: {name: mocogan}\n",
            {},
            r"unknown parameter 'modle' .*toy.gpu.yaml\); did you mean 'model'\?"
            r" allowed: scale, sizes, fail, pause, data, model, train, eval",
        ),
        (
            "model: {name: mocogan, ngff: 8}\ntrain: {steps: 1, batch_size: 1}\n",
            {},
            r"toy.gpu.yaml: unknown key model.ngff; did you mean model.ngf\? allowed:"
            r" .*ngf, ndf",
        ),
        (
            "model: {name: mocogan, ngf: abc}\ntrain: {steps: 1, batch_size: 1}\n",
            {},
            r"toy.gpu.yaml: model.ngf expects int, got 'abc' \(str\)",
        ),
        ("model: {name: mocogan\n", {}, r"toy.gpu.yaml is not valid YAML \(line 2\)"),
        ("[1, 2]\n", {}, "toy.gpu.yaml must be a YAML mapping"),
        ("scale: 3\n", {}, "toy.gpu.yaml sets no record section"),
        ("scale: fast\n", {}, r"'scale' expects float, got 'fast' \(from .*gpu.yaml"),
        (None, {"model.ngf": "abc"}, r"-p: model.ngf expects int, got 'abc' \(str\)"),
        (None, {"model.ngf.x": 1}, r"'model.ngf.x' must be <section>.<key>"),
        (None, {"scal": 1}, r"unknown parameter 'scal'.*did you mean 'scale'"),
        (None, {"record": "{}"}, "set the record by its sections"),
        (None, {"out_dir": "x"}, "'out_dir' is set by the runner"),
    ],
)
def test_bad_input_names_the_key(notebooks, params_yaml, overrides, message):
    profile = "smoke"
    if params_yaml is not None:
        (notebooks / "params" / "toy.gpu.yaml").write_text(params_yaml)
        profile = "gpu"
    with pytest.raises(RunnerError, match=message):
        prep(notebooks, profile, **overrides)
    assert not (notebooks.parent / "runs").exists()


def test_profile_and_slug_errors(notebooks):
    with pytest.raises(RunnerError, match="unknown profile 'cpux'; choose one of"):
        prep(notebooks, "cpux")
    with pytest.raises(RunnerError, match="needs the file .*params/toy.gpu.yaml"):
        prep(notebooks, "gpu")
    with pytest.raises(RunnerError, match="unknown notebook 'toyy'.*did you mean toy"):
        prep(notebooks, slug="toyy")
    (notebooks / "toy.md").write_text(
        (notebooks / "toy.md").read_text().replace('profile: str = "smoke"', "a = 1")
    )
    with pytest.raises(RunnerError, match="must declare profile"):
        prep(notebooks)


def test_a_notebook_without_record_keeps_plain_parameters(notebooks):
    chapter(notebooks, "plain", record=None)
    (notebooks / "params" / "plain.cpu.yaml").write_text("scale: 3\nsizes: [4]\n")
    job = prep(notebooks, "cpu", slug="plain", fail="yes")
    assert job.params.record is None
    assert job.params.injected("cpu") == {
        "scale": 3.0,
        "sizes": [4],
        "fail": True,
        "profile": "cpu",
    }
    with pytest.raises(RunnerError, match="unknown parameter 'model.ngf'"):
        prep(notebooks, slug="plain", **{"model.ngf": 3})


# ------------------------------------------------------------------ needs
def test_needs_order_chapters_stably(tmp_path):
    for slug, needs in [("a", ()), ("b", ("c",)), ("c", ()), ("d", ("b",))]:
        chapter(tmp_path, slug, needs)
    assert ordered(["a", "b", "c", "d"], tmp_path) == ["a", "c", "b", "d"]
    assert ordered(["d", "a"], tmp_path) == ["d", "a"]  # c, b are not asked for
    assert ordered(["a", "c"], tmp_path) == ["a", "c"]


def test_a_cycle_is_refused_naming_it(tmp_path, fake_papermill, capsys):
    chapter(tmp_path, "base")
    chapter(tmp_path, "g3an", ("mocogan",))
    chapter(tmp_path, "mocogan", ("g3an",))
    with pytest.raises(RunnerError, match="cycle: g3an -> mocogan -> g3an$"):
        runner.run_all(["base", "g3an", "mocogan"], "smoke", notebooks_dir=tmp_path)
    with pytest.raises(RunnerError, match="cycle: mocogan -> g3an -> mocogan$"):
        runner.run("mocogan", notebooks_dir=tmp_path, out_root=tmp_path / "runs")
    assert fake_papermill == [] and not (tmp_path / "runs").exists()


def test_an_unknown_need_is_named(tmp_path):
    chapter(tmp_path, "mocogan")
    chapter(tmp_path, "g3an", ("mocogann",))
    with pytest.raises(RunnerError, match=r"names 'mocogann'.*did you mean mocogan\?"):
        ordered(["g3an"], tmp_path)


def test_a_missing_needed_run_says_how_to_make_it(tmp_path, fake_papermill):
    chapter(tmp_path, "mocogan")
    chapter(tmp_path, "g3an", ("mocogan",))
    out_root = tmp_path / "runs"
    message = (
        r"g3an needs the mocogan run at profile 'smoke', but .*runs/smoke/mocogan/"
        r"results.json does not exist; make it with: python -m vidlib.runner run"
        r" mocogan --profile smoke --out-root .*runs$"
    )
    with pytest.raises(MissingRun, match=message):
        runner.run("g3an", notebooks_dir=tmp_path, out_root=out_root)
    assert fake_papermill == [] and not out_root.exists()
    # run together, the needed chapter runs first
    order = runner.run_all(
        ["g3an", "mocogan"], "smoke", notebooks_dir=tmp_path, out_root=out_root
    )
    assert order == fake_papermill == ["mocogan", "g3an"]


def test_a_chapter_is_not_needed_at_a_profile_it_does_not_have(notebooks):
    chapter(notebooks, "mocogan")  # smoke only: no notebooks/params/mocogan.cpu.yaml
    chapter(notebooks, "toy", ("mocogan",))
    job = prep(notebooks, "cpu")  # toy.cpu.yaml exists: mocogan is not needed there
    assert job.slug == "toy"
    (notebooks / "params" / "mocogan.cpu.yaml").write_text(
        "model: {name: mocogan}\ntrain: {steps: 1, batch_size: 1}\n"
    )
    with pytest.raises(MissingRun, match="toy needs the mocogan run at profile 'cpu'"):
        prep(notebooks, "cpu")


def test_run_all_reruns_exactly_the_chapters_that_need_a_retrained_run(
    tmp_path, fake_papermill
):
    chapter(tmp_path, "g3an", ("mocogan",))
    chapter(tmp_path, "mocogan")
    chapter(tmp_path, "navs", ("mocogan",))
    chapter(tmp_path, "shapes")
    kwargs = {"notebooks_dir": tmp_path, "out_root": tmp_path / "runs"}
    every = ["g3an", "mocogan", "navs", "shapes"]
    runner.run_all(every, "smoke", **kwargs)
    assert fake_papermill == ["mocogan", "g3an", "navs", "shapes"]
    runner.run_all(every, "smoke", **kwargs)
    assert len(fake_papermill) == 4  # all up to date

    chapter(tmp_path, "mocogan", scale=2.0)  # MoCoGAN changed, retrained alone:
    runner.run_all(["mocogan"], "smoke", **kwargs)
    del fake_papermill[:]
    runner.run_all(every, "smoke", **kwargs)
    assert fake_papermill == ["g3an", "navs"]


# ------------------------------------------------------------------ results
def test_results_get_the_runners_keys_and_bad_input_loses_nothing(
    notebooks, fake_papermill, capsys
):
    out_root = notebooks.parent / "runs"
    kwargs = {"notebooks_dir": notebooks, "out_root": out_root}
    results = runner.run("toy", "cpu", {"model.ngf": "6"}, **kwargs)
    assert results["record"]["model"] == {"name": "mocogan", "ngf": 6}  # injected
    assert results["params"] == {"scale": 2.0}
    assert (
        results["inputs_hash"] == prep(notebooks, "cpu", **{"model.ngf": 6}).inputs_hash
    )
    assert results["notebook"].endswith("runs/cpu/toy/toy.ipynb")
    assert results["wall_time_s"] >= 0
    written = {p: p.read_bytes() for p in out_root.rglob("*") if p.is_file()}

    for bad in ({"model.ngf": "x"}, {"modle.ngf": "1"}, {"scal": "1"}):
        with pytest.raises(RunnerError):
            runner.run_all(["toy"], "cpu", bad, grids_too=True, **kwargs)
    write_grid(notebooks, "variants: {a: {model.ngf: 2}, b: {model.ngf: x}}\n", "cpu")
    with pytest.raises(RunnerError, match="variant b: model.ngf expects int"):
        runner.run_all(["toy"], "cpu", grids_too=True, **kwargs)
    (notebooks / "params" / "toy.cpu.yaml").write_text("model: {ngf: [\n")
    with pytest.raises(RunnerError, match="not valid YAML"):
        runner.run("toy", "cpu", **kwargs)
    assert {p: p.read_bytes() for p in out_root.rglob("*") if p.is_file()} == written
    assert fake_papermill == ["toy"]


@pytest.mark.notebook
def test_run_caches_forces_and_keeps_results_on_failure(notebooks, capsys):
    """Three real kernels: the record reaches the notebook as a dict."""
    out_root = notebooks.parent / "runs"
    kwargs = {"notebooks_dir": notebooks, "out_root": out_root}
    overrides = {"train.steps": "4", "scale": "0.5"}
    inputs_hash = prep(notebooks, **overrides).inputs_hash  # before: vidlib may change
    results = runner.run("toy", "smoke", overrides, **kwargs)
    run_dir = out_root / "smoke" / "toy"
    assert results == json.loads((run_dir / "results.json").read_text())
    assert results["record"]["train"] == {**TINY["train"], "steps": 4}
    assert results["params"] == {"written_by": "notebook", "scale": 0.5}
    assert results["metrics"]["loss"] == {"value": 0.5, "protocol": "toy-v1"}
    assert results["inputs_hash"] == inputs_hash
    executed = run_dir / "toy.ipynb"
    stamp = executed.stat().st_mtime_ns

    assert runner.run("toy", "smoke", overrides, **kwargs) == results
    assert "up to date" in capsys.readouterr().out
    assert executed.stat().st_mtime_ns == stamp

    forced = runner.run("toy", "smoke", overrides, force=True, **kwargs)
    assert executed.stat().st_mtime_ns != stamp
    assert forced["inputs_hash"] == results["inputs_hash"]
    kept = (run_dir / "results.json").read_bytes()

    message = r"toy.md \[smoke\] failed in cell .*ValueError: boom; partially exec"
    with pytest.raises(RunFailed, match=message):
        runner.run("toy", "smoke", {**overrides, "fail": True}, **kwargs)
    assert (run_dir / "results.json").read_bytes() == kept
    assert prep(notebooks, **overrides).status() == "failed"  # not "up to date"
    assert sorted(os.listdir(out_root)) == ["smoke"]


# ------------------------------------------------------------------ grids
def write_grid(notebooks: Path, text: str, profile: str = "smoke") -> Path:
    path = notebooks / "params" / f"toy.{profile}.grid.yaml"
    path.write_text(text)
    return path


def prep_grid(notebooks: Path, profile: str = "smoke", **overrides):
    out_root = notebooks.parent / "runs"
    return prepare_grid(
        "toy", profile, overrides, notebooks_dir=notebooks, out_root=out_root
    )


def test_grid_layers_record_variant_then_p(notebooks):
    write_grid(
        notebooks,
        "variants:\n  base: {}\n  wide: {model.ngf: 8}\n"
        "  long: {train: {steps: 5}}\nseeds: [3, 4]\n",
    )
    runs = prep_grid(notebooks, **{"model.ndf": "2"})
    assert [r.name for r in runs] == [
        "base-seed3",
        "base-seed4",
        "wide-seed3",
        "wide-seed4",
        "long-seed3",
        "long-seed4",
    ]
    assert all(r.run_dir.parent.name == "grid" for r in runs)
    assert [r.record.model["ngf"] for r in runs] == [4, 4, 8, 8, 4, 4]
    assert [r.record.train["steps"] for r in runs] == [2, 2, 2, 2, 5, 5]
    assert [r.record.seed for r in runs] == [3, 4] * 3
    assert {r.record.model["ndf"] for r in runs} == {2}  # -p applies to every run
    assert len({r.inputs_hash for r in runs}) == 6


@pytest.mark.parametrize(
    "text, message",
    [
        ("- a\n- b\n", "must be a YAML mapping with 'variants'"),
        ("variants: {}\n", "'variants' must be a non-empty mapping"),
        ("variants: {a: {}}\nsteps: 3\n", r"unknown key\(s\) \['steps'\]"),
        ("variants: {a: {}}\nseeds: [1, 1]\n", "'seeds' must be a list of distinct"),
        ("variants: {a-b: {}}\n", "variant name 'a-b' may only use"),
        ("variants: {a: 3}\n", "variant a must map section.key: value"),
        ("variants: {a: {train.seed: 1}}\nseeds: [1]\n", "sets train.seed; use"),
        ("variants: {a: {scale: 2}}\n", "variant a: 'scale' is not a record setting"),
        ("variants: {a: {model.ngff: 1}}\n", r"variant a: unknown key model.ngff"),
        ("variants: {a: {model.ngf: x}}\n", r"variant a: model.ngf expects int"),
    ],
)
def test_grid_bad_input(notebooks, text, message):
    write_grid(notebooks, text)
    with pytest.raises(RunnerError, match=message):
        prep_grid(notebooks)


def test_grid_missing_file_and_clash_with_p(notebooks):
    with pytest.raises(RunnerError, match=r"no grid for 'toy' at profile 'smoke'"):
        prep_grid(notebooks)
    write_grid(notebooks, "variants: {a: {model.ngf: 2}, b: {model: {ngf: 3}}}\n")
    with pytest.raises(RunnerError, match="-p model.ngf: the grid .* varies it"):
        prep_grid(notebooks, **{"model.ngf": 5})


def test_grid_runs_through_run_experiment(notebooks, capsys, tmp_path):
    """Two tiny MoCoGAN trainings: results with the variant, the index, the table,
    the main run's key; then the same grid with ``jobs=2``, in two processes."""
    write_grid(notebooks, "variants: {narrow: {}, wide: {model.ngf: 6}}\n")
    main_job = prep(notebooks)
    assert grid_results(main_job.run_dir) == []
    results = run_grid(prep_grid(notebooks))
    assert [r["variant"] for r in results] == ["narrow", "wide"]
    assert [r["record"]["model"]["ngf"] for r in results] == [4, 6]
    assert [r["inputs_hash"] for r in results] == [
        r.inputs_hash for r in prep_grid(notebooks)
    ]
    assert {"mfd_fake", "mfd_real"} <= set(results[0]["metrics"])
    assert grid_results(main_job.run_dir) == results
    lines = grid_table(results, ["mfd_fake"]).splitlines()
    assert lines[2].startswith("| narrow | model.ngf=4 | ")
    assert lines[3].startswith("| wide | model.ngf=6 | ")
    assert prep(notebooks).inputs_hash != main_job.inputs_hash
    assert run_grid(prep_grid(notebooks)) == results  # up to date: no training
    assert capsys.readouterr().out.count("up to date") == 2

    # the same grid two processes at a time: the same runs, in the grid's order
    other = tmp_path / "other" / "notebooks"
    shutil.copytree(notebooks, other)
    apart = run_grid(prep_grid(other), jobs=2)
    assert grid_results(prep(other).run_dir) == apart
    for a, b in zip(apart, results, strict=True):  # one thread each vs two: rounding
        assert (a["variant"], a["record"]) == (b["variant"], b["record"])
        for name, metric in b["metrics"].items():
            if name != "train_seconds_per_step":
                assert a["metrics"][name]["value"] == pytest.approx(metric["value"])


# ------------------------------------------------------------------ book, CLI
def test_staging_removes_the_parameters_cells():
    cell = {"cell_type": "code", "source": "x = 1", "metadata": {}}
    notebook = {
        "cells": [
            {**cell, "metadata": {"tags": ["parameters"]}},
            {**cell, "metadata": {"tags": ["injected-parameters"]}},
            {**cell, "metadata": {"tags": ["remove-cell", "parameters"]}},
            cell,
        ]
    }
    tags = [c["metadata"]["tags"] for c in book_build.stage(notebook)["cells"]]
    assert tags == [
        ["parameters", "remove-cell"],
        ["injected-parameters", "remove-cell"],
        ["remove-cell", "parameters"],
        [],
    ]


def test_staging_copies_the_params_files_for_the_record_links(tmp_path):
    target = book_build.stage_params(tmp_path)
    names = sorted(p.name for p in target.iterdir())
    assert "mocogan.cpu.yaml" in names and names == sorted(
        p.name for p in (ROOT / "notebooks" / "params").glob("*.yaml")
    )
    assert (target / "mocogan.cpu.yaml").read_bytes() == (
        ROOT / "notebooks" / "params" / "mocogan.cpu.yaml"
    ).read_bytes()


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "python -m vidlib.runner run --all --profile cpu" in capsys.readouterr().out
    for command in ("run", "build", "list"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "no_such_notebook", "--profile", "smoke"],
        ["run", "shapes", "--profile", "laptop"],
        ["run", "--profile", "smoke"],
        ["build", "--profile", "laptop"],
        ["run", "shapes", "--profile", "smoke", "--grid"],  # shapes has no grid
        ["run", "mocogan", "--profile", "smoke", "-p", "model.ngf", "x"],
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, argv):
    out_root = tmp_path / "runs"
    assert main([*argv, "--out-root", str(out_root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not out_root.exists()


def test_build_names_missing_notebooks_and_command(tmp_path):
    assert book_build.toc_slugs(), "book/_toc.yml lists no book/generated/<slug>"
    with pytest.raises(
        RunnerError, match="python -m vidlib.runner run .* --profile smoke"
    ):
        book_build.build("smoke", out_root=tmp_path / "runs")


KILLED_RUN = """
import sys
from pathlib import Path
from vidlib import runner
folder = Path(sys.argv[1])
runner.run("second", "smoke", {"pause": 60}, notebooks_dir=folder,
           out_root=folder.parent / "runs")
"""


@pytest.mark.notebook
def test_a_chapter_killed_mid_notebook_reruns_and_others_stay_valid(notebooks):
    """SIGKILL the runner and its kernel while the chapter sleeps mid-notebook: the
    rerun finishes, and the chapter it needs stays up to date, its results
    untouched."""
    chapter(notebooks, "first")
    chapter(notebooks, "second", needs=("first",))
    kwargs = {"notebooks_dir": notebooks, "out_root": notebooks.parent / "runs"}
    runner.run("first", "smoke", **kwargs)
    first = prep(notebooks, slug="first")
    written = first.results.read_bytes()
    killed = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(notebooks)],
        cwd=ROOT,
        start_new_session=True,  # its own process group: the runner and its kernel
    )
    executed = prep(notebooks, slug="second", pause=60).executed
    deadline = time.monotonic() + 120
    while not executed.exists() and time.monotonic() < deadline:
        time.sleep(0.5)  # papermill writes the notebook it runs as it starts
    time.sleep(5)  # the kernel starts, then sleeps for a minute before writing
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not prep(notebooks, slug="second").results.exists()
    results = runner.run("second", "smoke", **kwargs)
    assert results["metrics"]["loss"]["value"] == 1.0
    assert first.status() == "up to date"
    assert first.results.read_bytes() == written


def test_jobs_run_chapters_side_by_side_after_their_needs(tmp_path):
    """Real kernels, two at a time: a and c overlap, b starts after a has finished,
    each kernel gets cores / jobs threads; a failure starts nothing that needs it."""
    out_root = tmp_path / "runs"
    for slug, needs in [("a", ()), ("b", ("a",)), ("c", ())]:
        path = chapter(tmp_path, slug, needs)
        text = path.read_text().replace("pause: float = 0.0", "pause: float = 2.0")
        threads = 'params={"written_by": os.environ.get("OMP_NUM_THREADS"), '
        threads += '"started": started}'
        text = text.replace('params={"written_by": "notebook"}', threads)
        started = "started = time.time()\ntime.sleep(pause)"
        text = text.replace("time.sleep(pause)", started)
        path.write_text(text.replace("import time\n", "import os\nimport time\n"))
    runner.run_all(
        ["a", "b", "c"], "smoke", notebooks_dir=tmp_path, out_root=out_root, jobs=2
    )

    def interval(slug: str) -> tuple[float, float, dict]:
        results = json.loads((out_root / "smoke" / slug / "results.json").read_text())
        end = datetime.fromisoformat(results["created"]).timestamp()
        return end - results["wall_time_s"], end, results

    (a0, a1, a), (_, _, b), (c0, c1, _) = (interval(s) for s in "abc")
    assert a0 < c1 and c0 < a1  # side by side
    # after its need: b's kernel started after a wrote its results ("created", whole
    # seconds); b's wall time also counts its kernel's shutdown, so not end - wall
    assert b["params"]["started"] >= a1
    assert a["params"]["written_by"] == str(kernel_threads(2))

    failing = (
        chapter(tmp_path, "x")
        .read_text()
        .replace("fail: bool = False", "fail: bool = True")
    )
    (tmp_path / "x.md").write_text(failing)
    chapter(tmp_path, "y", ("x",))
    with pytest.raises(RunFailed, match=r"x.md \[smoke\] failed"):
        runner.run_all(
            ["x", "y", "c"], "smoke", notebooks_dir=tmp_path, out_root=out_root, jobs=2
        )
    assert not (out_root / "smoke" / "y").exists()
    with pytest.raises(RunnerError, match="jobs must be >= 1, got 0"):
        runner.run_all(["a"], "smoke", notebooks_dir=tmp_path, jobs=0)
