"""The papermill runner ``vidlib.book`` on a tiny throwaway notebook.

Only ``test_run_caches_forces_and_keeps_results_on_failure`` starts kernels (three
papermill executions, ~5 s each); everything else checks validation without one.
"""

import json
import math
import os
from pathlib import Path

import pytest

from vidlib import book
from vidlib.book import BookError, Param, RunFailed, cast_value, main, prepare, run

TOY = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---

# Toy

```{code-cell} ipython3
:tags: [parameters]

profile: str = "smoke"  # set by the runner
out_dir: str = "_runs/interactive/toy"  # set by the runner
seed: int = 0  # seed
steps: int = 3  # optimisation steps
lr: float = 1e-3  # learning rate
sizes: list[int] = [1, 2]  # sizes
fail: bool = False  # raise in the body
```

```{code-cell} ipython3
from vidlib.book import resolve_out_dir, write_results

out = resolve_out_dir(out_dir, "toy")
if fail:
    raise ValueError("boom")
(out / "samples.txt").write_text("x" * steps)
write_results(
    out, slug="toy", profile=profile, seed=seed,
    params={"steps": steps, "lr": lr, "sizes": sizes},
    metrics={"loss": {"value": lr * steps, "protocol": "toy-v1", "n": steps}},
    artifacts={"samples": "samples.txt"},
)
```
"""


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    """A notebooks/ folder with toy.md and a cpu params file."""
    folder = tmp_path / "notebooks"
    (folder / "params").mkdir(parents=True)
    (folder / "toy.md").write_text(TOY)
    (folder / "params" / "toy.cpu.yaml").write_text("steps: 10\nlr: 0.01\n")
    return folder


def prep(notebooks: Path, profile: str = "smoke", **overrides) -> book.Job:
    out_root = notebooks.parent / "runs"
    return prepare(
        "toy", profile, overrides, notebooks_dir=notebooks, out_root=out_root
    )


@pytest.mark.parametrize(
    "annotation, default, value, expected",
    [
        ("int", "0", "500", 500),
        ("int", "0", 7, 7),
        ("float", "0.0", "1e-3", 1e-3),
        ("float", "0.0", 2, 2.0),
        ("bool", "False", "yes", True),
        ("bool", "False", "False", False),
        ("bool", "False", True, True),
        ("str", '""', "abc", "abc"),
        ("list", "[]", "[1, 2]", [1, 2]),
        ("list", "[]", "[circle, square]", ["circle", "square"]),
        ("list[int]", "[]", "[1, 2]", [1, 2]),  # items are not checked
        ("int | None", "None", "null", None),
        ("dict", "{}", "{a: 1}", {"a": 1}),
        ("Optional[int]", "None", "none", None),
        ("None", "0.5", "2", 2.0),  # not annotated: the default's type
        ("None", "None", "[1]", [1]),  # no type to check against: parsed
    ],
)
def test_cast_value(annotation, default, value, expected):
    cast = cast_value(Param("x", annotation, default, ""), value, "-p")
    assert cast == expected and type(cast) is type(expected)


@pytest.mark.parametrize(
    "annotation, value",
    [
        ("int", "abc"),
        ("int", 1.5),
        ("int", True),
        ("float", "fast"),
        ("bool", "maybe"),
        ("str", 5),
        ("list", "3"),
        ("dict", "[1]"),
    ],
)
def test_cast_value_rejects(annotation, value):
    with pytest.raises(BookError, match=rf"'x' expects {annotation[:4]}.*from -p"):
        cast_value(Param("x", annotation, "0", ""), value, "-p")


def test_unsupported_annotation():
    with pytest.raises(BookError, match="unsupported annotation 'Path'"):
        cast_value(Param("x", "Path", '"a"', ""), "b", "-p")


def test_prepare_merges_params_file_then_overrides(notebooks):
    job = prep(notebooks, "cpu", steps="7")
    assert job.params == {"steps": 7, "lr": 0.01, "profile": "cpu"}
    assert job.run_dir == (notebooks.parent / "runs" / "cpu" / "toy").resolve()
    assert job.executed.name == "toy.ipynb"
    assert prep(notebooks, "cpu", steps="8").inputs_hash != job.inputs_hash
    assert prep(notebooks, "cpu", steps=7).inputs_hash == job.inputs_hash


@pytest.mark.parametrize(
    "profile, overrides, params_yaml, message",
    [
        ("cpux", {}, None, "unknown profile 'cpux'; choose one of smoke, cpu"),
        ("smoke", {"stepz": 3}, None, "unknown parameter 'stepz'.*'steps'.*declares"),
        (
            "smoke",
            {"steps": "abc"},
            None,
            "'steps' expects int, got 'abc' \\(from -p\\)",
        ),
        ("smoke", {"out_dir": "x"}, None, "'out_dir' is set by the runner"),
        ("gpu", {}, None, "needs the file .*notebooks/params/toy.gpu.yaml"),
        ("gpu", {}, "[1, 2]\n", "toy.gpu.yaml must be a YAML mapping"),
        ("gpu", {}, "steps: [1\n", "toy.gpu.yaml is not valid YAML \\(line 2\\)"),
        ("gpu", {}, "lr: fast\n", "'lr' expects float, got 'fast' \\(from .*gpu.yaml"),
    ],
)
def test_bad_input(notebooks, profile, overrides, params_yaml, message):
    if params_yaml is not None:
        (notebooks / "params" / "toy.gpu.yaml").write_text(params_yaml)
    with pytest.raises(BookError, match=message):
        prep(notebooks, profile, **overrides)
    assert not (notebooks.parent / "runs").exists()


def test_unknown_slug_suggests_close_matches(notebooks):
    with pytest.raises(BookError, match="unknown notebook 'toyy'.*did you mean toy"):
        prepare("toyy", "smoke", notebooks_dir=notebooks)


def test_notebook_must_declare_runner_params(notebooks):
    (notebooks / "toy.md").write_text(TOY.replace('profile: str = "smoke"', "a = 1"))
    with pytest.raises(BookError, match="must declare profile"):
        prep(notebooks)


def test_write_results(tmp_path):
    (tmp_path / "grid.png").write_bytes(b"png")
    record = book.write_results(
        tmp_path,
        slug="toy",
        profile="smoke",
        seed=1,
        params={"steps": 2, "path": Path("a")},
        metrics={
            "fd": {"value": 1, "protocol": "fd-v1", "n": 8},
            "x": {"value": None, "protocol": "p"},
        },
        artifacts=[tmp_path / "grid.png"],
    )
    written = json.loads((tmp_path / "results.json").read_text())
    assert written == record
    assert written["metrics"]["fd"] == {"value": 1.0, "protocol": "fd-v1", "n": 8}
    assert written["artifacts"] == ["grid.png"]
    assert written["params"] == {"steps": 2, "path": "a"}
    assert set(book.provenance()) <= set(written)
    assert set(written["versions"]) == {"python", "torch", "numpy", "vidlib"}
    assert written["git_sha"] == "unknown" or len(written["git_sha"]) >= 40


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"metrics": {"fd": 1.0}},
            "metric 'fd' must be a dict with 'value' and 'protocol'",
        ),
        (
            {"metrics": {"fd": {"value": 1.0, "protocol": ""}}},
            "'protocol' must be a non-empty",
        ),
        ({"metrics": {"fd": {"value": "1", "protocol": "p"}}}, "must be a real number"),
        ({"metrics": {"fd": {"value": math.nan, "protocol": "p"}}}, "is nan; use None"),
        (
            {"metrics": {"fd": {"value": 1.0, "protocol": "p", "x": [1]}}},
            "'x' must be a primitive",
        ),
        ({"artifacts": ["missing.gif"]}, "artifact missing.gif does not exist"),
        ({"artifacts": ["/elsewhere/a.gif"]}, "is not under"),
        ({"seed": "0"}, "seed must be an int"),
        ({"params": {"f": object()}}, "params is not JSON-serialisable"),
    ],
)
def test_write_results_rejects(tmp_path, change, message):
    kwargs = {"slug": "toy", "profile": "smoke", "seed": 0, "params": {}, "metrics": {}}
    with pytest.raises(BookError, match=message):
        book.write_results(tmp_path, **{**kwargs, **change})
    assert not (tmp_path / "results.json").exists()


def test_resolve_out_dir(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    monkeypatch.delenv(book.OUT_ROOT_ENV, raising=False)
    assert book.resolve_out_dir("_runs/x/toy", "toy") == tmp_path / "_runs/x/toy"
    assert (tmp_path / "_runs/x/toy").is_dir()
    monkeypatch.setenv(book.OUT_ROOT_ENV, str(tmp_path / "nbval"))
    assert book.resolve_out_dir("/abs/ignored", "toy") == tmp_path / "nbval" / "toy"


@pytest.mark.notebook
def test_run_caches_forces_and_keeps_results_on_failure(notebooks, capsys):
    out_root = notebooks.parent / "runs"
    kwargs = {"notebooks_dir": notebooks, "out_root": out_root}
    inputs_hash = prep(notebooks, steps=4).inputs_hash  # before: vidlib may change
    results = run("toy", "smoke", {"steps": "4"}, **kwargs)
    run_dir = out_root / "smoke" / "toy"
    assert results == json.loads((run_dir / "results.json").read_text())
    assert results["metrics"]["loss"] == {"value": 0.004, "protocol": "toy-v1", "n": 4}
    assert results["params"]["steps"] == 4 and results["params"]["profile"] == "smoke"
    assert results["artifacts"] == {"samples": "samples.txt"}
    assert results["inputs_hash"] == inputs_hash
    assert {"device", "versions", "git_sha", "created", "wall_time_s"} <= set(results)
    assert Path(results["notebook"]).name == "toy.ipynb"
    executed = run_dir / "toy.ipynb"
    stamp = executed.stat().st_mtime_ns

    assert run("toy", "smoke", {"steps": 4}, **kwargs) == results
    assert "up to date" in capsys.readouterr().out
    assert executed.stat().st_mtime_ns == stamp

    forced = run("toy", "smoke", {"steps": 4}, force=True, **kwargs)
    assert executed.stat().st_mtime_ns != stamp
    assert forced["inputs_hash"] == results["inputs_hash"]
    kept = (run_dir / "results.json").read_bytes()

    message = r"toy.md \[smoke\] failed in cell .*ValueError: boom; partially exec"
    with pytest.raises(RunFailed, match=message):
        run("toy", "smoke", {"steps": 4, "fail": True}, **kwargs)
    assert (run_dir / "results.json").read_bytes() == kept
    assert book.status(prep(notebooks, steps=4)) == "failed"  # not "up to date"
    assert sorted(os.listdir(out_root)) == ["smoke"]


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "python -m vidlib.book run --all --profile cpu" in capsys.readouterr().out
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
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, argv):
    out_root = tmp_path / "runs"
    assert main([*argv, "--out-root", str(out_root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not out_root.exists()


def test_build_names_missing_notebooks_and_command(tmp_path):
    toc_slugs = book.toc_slugs()
    with pytest.raises(BookError, match="python -m vidlib.book run .* --profile smoke"):
        book.build("smoke", out_root=tmp_path / "runs")
    assert toc_slugs, "book/_toc.yml lists no book/generated/<slug> notebooks"


# ------------------------------------------------------------------ grids
def write_grid(notebooks: Path, text: str, profile: str = "cpu") -> Path:
    path = notebooks / "params" / f"toy.{profile}.grid.yaml"
    path.write_text(text)
    return path


def prep_grid(notebooks: Path, profile: str = "cpu", **overrides) -> list[book.Job]:
    out_root = notebooks.parent / "runs"
    return book.prepare_grid(
        "toy", profile, overrides, notebooks_dir=notebooks, out_root=out_root
    )


def test_grid_layers_params_file_variant_then_p(notebooks):
    write_grid(notebooks, "variants:\n  base: {}\n  big: {steps: 99}\nseeds: [3, 4]\n")
    jobs = prep_grid(notebooks, lr=0.5)
    assert [j.run_dir.name for j in jobs] == [
        "base-seed3",
        "base-seed4",
        "big-seed3",
        "big-seed4",
    ]
    assert all(j.run_dir.parent.name == "grid" for j in jobs)
    assert [j.params["steps"] for j in jobs] == [10, 10, 99, 99]  # cpu.yaml, variant
    assert [j.params["seed"] for j in jobs] == [3, 4, 3, 4]
    assert {j.params["lr"] for j in jobs} == {0.5}  # -p applies to every run
    assert {j.variant for j in jobs} == {"base", "big"}


def test_grid_without_seeds_keeps_the_profiles_seed(notebooks):
    write_grid(notebooks, "variants:\n  only: {lr: 0.1}\n")
    (job,) = prep_grid(notebooks)
    assert job.run_dir.name == "only" and "seed" not in job.params


@pytest.mark.parametrize(
    "text, message",
    [
        ("- a\n- b\n", "must be a YAML mapping with 'variants'"),
        ("variants: {}\n", "'variants' must be a non-empty mapping"),
        ("variants: {a: {}}\nsteps: 3\n", r"unknown key\(s\) \['steps'\]"),
        ("variants: {a: {}}\nseeds: [1, 1]\n", "'seeds' must be a list of distinct"),
        ("variants: {a: {}}\nseeds: [true]\n", "'seeds' must be a list of distinct"),
        ("variants: {a-b: {}}\n", "variant name 'a-b' may only use"),
        ("variants: {a: 3}\n", "variant 'a' must map parameter: value"),
        ("variants: {a: {seed: 1}}\nseeds: [1]\n", "variant 'a' sets 'seed'"),
        ("variants: {a: {stepz: 1}}\n", r"unknown parameter 'stepz' .*variant a\)"),
        ("variants: {a: {steps: x}}\n", "variant a"),
    ],
)
def test_grid_bad_input(notebooks, text, message):
    write_grid(notebooks, text)
    with pytest.raises(BookError, match=message):
        prep_grid(notebooks)


def test_grid_missing_file_and_clash_with_p(notebooks):
    with pytest.raises(BookError, match=r"no grid for 'toy' at profile 'cpu'"):
        prep_grid(notebooks)
    write_grid(notebooks, "variants: {a: {lr: 0.1}, b: {lr: 0.2}}\n")
    with pytest.raises(BookError, match="-p lr: the grid .* varies it"):
        prep_grid(notebooks, lr=0.3)


def test_grid_table_means_settings_and_protocols():
    def result(variant, seed, steps, loss):
        metric = {"value": loss, "protocol": "toy-v1"}
        params = {
            "steps": steps,
            "lr": 0.1,
            "seed": seed,
            "out_dir": f"x/{seed}",
            "model": {"width": 8, "depth": 2 if variant == "a" else 3},
        }
        return {
            "variant": variant,
            "seed": seed,
            "params": params,
            "metrics": {"loss": metric, "fd": {"value": None, "protocol": "p"}},
        }

    results = [result("a", 0, 5, 1.0), result("a", 1, 5, 3.0), result("b", 0, 9, 2.0)]
    table = book.grid_table(results, ["loss", "fd"], variants=["b", "a"])
    lines = table.splitlines()
    assert lines[0] == "| variant | settings | `loss` | `fd` |"
    assert lines[2] == "| b | model.depth=3, steps=9 | 2 | n/a |"
    assert lines[3] == f"| a | model.depth=2, steps=5 | 2 ± {math.sqrt(2):.2g} | n/a |"
    assert "Seeds: 0, 1 (mean ± std over seeds)." in lines
    assert "`loss`: toy-v1." in lines
    with pytest.raises(BookError, match=r"no grid results for variant\(s\) \['c'\]"):
        book.grid_table(results, ["loss"], variants=["c"])
    with pytest.raises(BookError, match="variant 'a' did not record metric 'kid'"):
        book.grid_table(results, ["kid"])


def test_grid_runs_index_and_rerun_the_main_notebook(notebooks):
    """Two kernels: the grid's runs land in grid/, in order, and change the main key."""
    write_grid(notebooks, "variants: {fast: {steps: 1}, slow: {steps: 2}}\n")
    main_job = prep(notebooks, "cpu")
    assert book.grid_results(main_job.run_dir) == []
    results = book.run_grid(prep_grid(notebooks))
    assert [r["variant"] for r in results] == ["fast", "slow"]
    assert [r["params"]["steps"] for r in results] == [1, 2]
    assert book.grid_results(main_job.run_dir) == results
    assert prep(notebooks, "cpu").inputs_hash != main_job.inputs_hash
    write_grid(notebooks, "variants: {fast: {steps: 1}}\n")  # a new grid file:
    assert prep(notebooks, "cpu").inputs_hash != main_job.inputs_hash
