"""``vidlib.results``: results.json, the notebook's output folder, grid tables."""

import json
import math
from pathlib import Path

import pytest

from vidlib import results as res
from vidlib.results import ResultsError, grid_table, write_results


def test_write_results(tmp_path):
    (tmp_path / "grid.png").write_bytes(b"png")
    record = write_results(
        tmp_path,
        slug="toy",
        profile="smoke",
        seed=1,
        record={"model": {"name": "mocogan", "ngf": 8}},
        params={"steps": 2, "path": Path("a")},
        metrics={
            "fd": {"value": 1, "protocol": "fd-v1", "n": 8},
            "x": {"value": None, "protocol": "p"},
        },
        artifacts=[tmp_path / "grid.png"],
    )
    written = json.loads((tmp_path / "results.json").read_text())
    assert written == record
    assert written["record"] == {"model": {"name": "mocogan", "ngf": 8}}
    assert written["metrics"]["fd"] == {"value": 1.0, "protocol": "fd-v1", "n": 8}
    assert written["artifacts"] == ["grid.png"]
    assert written["params"] == {"steps": 2, "path": "a"}
    assert set(res.provenance()) <= set(written)
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
    with pytest.raises(ResultsError, match=message):
        write_results(tmp_path, **{**kwargs, **change})
    assert not (tmp_path / "results.json").exists()


def test_resolve_out_dir(tmp_path, monkeypatch):
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    monkeypatch.delenv(res.OUT_ROOT_ENV, raising=False)
    assert res.resolve_out_dir("_runs/x/toy", "toy") == tmp_path / "_runs/x/toy"
    assert (tmp_path / "_runs/x/toy").is_dir()
    monkeypatch.setenv(res.OUT_ROOT_ENV, str(tmp_path / "nbval"))
    assert res.resolve_out_dir("/abs/ignored", "toy") == tmp_path / "nbval" / "toy"


def test_grid_table_means_settings_from_the_record_and_protocols():
    def result(variant, seed, steps, loss):
        record = {
            "model": {
                "name": "g3an",
                "ngf": 8,
                "fsa_position": 2 if variant == "a" else -1,
            },
            "train": {"steps": steps, "seed": seed, "batch_size": 4},
        }
        return {
            "variant": variant,
            "seed": seed,
            "record": record,
            "metrics": {
                "loss": {"value": loss, "protocol": "toy-v1"},
                "fd": {"value": None, "protocol": "p"},
            },
        }

    results = [result("a", 0, 5, 1.0), result("a", 1, 5, 3.0), result("b", 0, 9, 2.0)]
    table = grid_table(results, ["loss", "fd"], variants=["b", "a"])
    lines = table.splitlines()
    assert lines[0] == "| variant | settings | `loss` | `fd` |"
    assert lines[2] == "| b | model.fsa_position=-1, train.steps=9 | 2 | n/a |"
    assert lines[3] == (
        f"| a | model.fsa_position=2, train.steps=5 | 2 ± {math.sqrt(2):.2g} | n/a |"
    )
    assert "Seeds: 0, 1 (mean ± std over seeds)." in lines
    assert "`loss`: toy-v1." in lines
    with pytest.raises(ResultsError, match=r"no grid results for variant\(s\) \['c'\]"):
        grid_table(results, ["loss"], variants=["c"])
    with pytest.raises(ResultsError, match="variant 'a' did not record metric 'kid'"):
        grid_table(results, ["kid"])


def test_record_summary_names_profile_seed_and_params_file():
    record = {"model": {"name": "mocogan"}, "train": {"seed": 3, "steps": 2}}
    text = res.record_summary(record, "cpu", "mocogan").data
    first = text.splitlines()[0]
    assert "profile `cpu`" in first and "seed 3" in first
    assert '<a href="../../params/mocogan.cpu.yaml">' in first
    assert "notebooks/params/mocogan.cpu.yaml" in first
    assert "<details>" in text and "steps: 2" in text
    smoke = res.record_summary(record, "smoke", "mocogan").data
    assert "parameters cell of `notebooks/mocogan.md`" in smoke
