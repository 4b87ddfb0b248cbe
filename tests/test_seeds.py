"""Seed runs for the results chapter (vidlib.seeds): which runs a profile needs, the
committed files and every way one is refused, and the committed files themselves
against today's cpu records."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from vidlib import seeds
from vidlib.record import profile_record
from vidlib.results import read_results_file, write_results

METRIC = {"fd_judge_j": {"value": 1.0, "protocol": "test"}}


def chapter_run(runs: Path, model: str, record: dict | None = None) -> dict:
    slug = seeds.MODELS[model][1].split("/")[0]
    record = record or profile_record(slug, "cpu").as_dict()
    return write_results(
        seeds.chapter_dir(model, "cpu", runs),
        slug=slug,
        profile="cpu",
        seed=record["train"]["seed"],
        record=record,
        metrics=METRIC,
    )


def grid_run(tmp_path: Path, model: str, seed: int, record: dict) -> SimpleNamespace:
    """What seeds.commit reads of a finished grid run."""
    run_dir = tmp_path / "grid" / f"{model}-seed{seed}"
    write_results(
        run_dir,
        slug=model,
        profile="cpu",
        seed=seed,
        record=seeds.seeded(record, seed),
        metrics=METRIC,
    )
    return SimpleNamespace(run_dir=run_dir, variant=model, seed=seed, profile="cpu")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path, dict]:
    """A runs folder with MoCoGAN's chapter run and a repository root with its
    committed seed 1."""
    runs, root = tmp_path / "_runs", tmp_path / "repo"
    record = chapter_run(runs, "mocogan")["record"]
    seeds.commit([grid_run(tmp_path, "mocogan", 1, record)], root)
    return runs, root, record


def test_collect_reads_the_chapter_run_and_the_committed_seeds(repo) -> None:
    runs, root, record = repo
    found, problems = seeds.collect("cpu", (0, 1, 2), runs, root)
    assert [(r.seed, r.source.name) for r in found["mocogan"]] == [
        (0, "results.json"),
        (1, "seed-1.json"),
    ]
    assert found["mocogan"][1].results["record"] == seeds.seeded(record, 1)
    missing_seed = [p for p in problems if "seed-2.json" in p]
    assert len(missing_seed) == 1 and seeds.command("cpu") in missing_seed[0]
    # every other model has no chapter run: named with the command that makes it
    others = [p for p in problems if "no cpu run of" in p]
    assert len(others) == len(seeds.KEYS) - 1
    assert any(
        "python -m vidlib.runner run residual --profile cpu" in p for p in others
    )


def test_a_committed_file_records_its_data_and_command(repo) -> None:
    _, root, record = repo
    committed = read_results_file(seeds.committed_file("mocogan", 1, root))
    assert committed["command"] == seeds.command("cpu")
    assert committed["training_data"] == seeds.training_data(seeds.seeded(record, 1))


def test_a_committed_seed_of_another_record_is_stale(repo) -> None:
    runs, root, record = repo
    changed = {**record, "model": {**record["model"], "lr_g": 0.5}}
    chapter_run(runs, "mocogan", changed)  # the chapter's record moved on
    found, problems = seeds.collect("cpu", (0, 1), runs, root)
    assert [r.seed for r in found["mocogan"]] == [0]
    (stale,) = [p for p in problems if "seed-1.json" in p]
    assert "model.lr_g" in stale and seeds.command("cpu") in stale


def test_a_committed_seed_of_other_data_is_stale(repo, monkeypatch) -> None:
    runs, root, _ = repo
    monkeypatch.setattr(seeds, "training_data", lambda record: {"version": "next"})
    with pytest.raises(seeds.StaleSeed, match="other data"):
        seeds._committed(
            "mocogan", 1, seeds.chapter_results("mocogan", "cpu", runs), root
        )


def test_an_edited_committed_file_is_refused(repo) -> None:
    runs, root, _ = repo
    path = seeds.committed_file("mocogan", 1, root)
    data = json.loads(path.read_text())
    data["metrics"]["fd_judge_j"]["value"] = 0.5
    path.write_text(json.dumps(data))
    found, problems = seeds.collect("cpu", (0, 1), runs, root)
    assert [r.seed for r in found["mocogan"]] == [0]
    assert any(
        str(path) in p and "changed after vidlib wrote it" in p for p in problems
    )


def test_plan_skips_the_chapters_seed_and_needs_every_chapter_run(tmp_path) -> None:
    runs = tmp_path / "_runs"
    with pytest.raises(seeds.SeedsError, match="python -m vidlib.runner run mocogan"):
        seeds.plan("cpu", (0, 1), runs)
    for model in seeds.MODELS:
        if "/" not in seeds.MODELS[model][1]:
            chapter_run(runs, model)
    for model in ("rmocogan", "rjvae"):  # sub-runs: any record will do here
        chapter_run(runs, model, profile_record("residual", "cpu").as_dict())
    planned = seeds.plan("cpu", (0, 1, 2), runs)
    # a model's seed 0 is its chapter run; an ablation trains every seed
    assert {(r.variant, r.seed) for r in planned} == {
        (m, s) for m in seeds.MODELS for s in (1, 2)
    } | {(a, s) for a in seeds.ABLATIONS for s in (0, 1, 2)}
    assert len(planned) == 2 * len(seeds.MODELS) + 3 * len(seeds.ABLATIONS)
    no_gs = next(r for r in planned if r.variant == "g3an_no_gs")
    assert no_gs.record.model["spatial_stream"] is False
    assert no_gs.record.as_dict() == seeds.seeded(
        profile_record("g3an", "cpu")
        .replace({"model.spatial_stream": False})
        .as_dict(),
        0,
    )
    first = planned[0]
    assert first.record.seed == first.seed
    assert (
        first.run_dir == runs.resolve() / "cpu" / "results" / "grid" / "mocogan-seed1"
    )


def test_the_committed_seed_runs_are_todays_cpu_records() -> None:
    """Each committed seed run of a chapter's main record is that record (from its
    params file) with another seed; a change to a params file fails here with the
    command that remakes them (sub-runs' records are built by their chapter, which
    checks them when the book is built)."""
    for key in seeds.KEYS:
        chapter = seeds.chapter_of(key)
        if "/" in chapter:
            continue
        run = {"record": profile_record(chapter, "cpu").as_dict()}
        files = sorted(seeds.committed_file(key, 0).parent.glob("seed-*.json"))
        regenerate = f"run {seeds.command('cpu')}"
        assert files, f"no committed seed run of {seeds.name(key)}: {regenerate}"
        for path in files:
            committed = read_results_file(path)
            seed = committed["seed"]
            assert committed["record"] == seeds.expected_record(key, run, seed), (
                f"{path} is stale against notebooks/params/{chapter}.cpu.yaml;"
                f" regenerate: {seeds.command('cpu')}"
            )
