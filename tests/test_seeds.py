"""Seed runs for the results chapter (vidlib.seeds): which runs a profile needs, the
committed files and every way one is refused, and the committed files themselves
against today's cpu records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from vidlib import seeds
from vidlib.models.residual import ResidualGANConfig
from vidlib.record import parse_record, profile_record
from vidlib.results import read_results_file, seal_results, write_results
from vidlib.runner.grids import START_DIR, GridRun, execute_grid_run

METRIC = {"fd_judge_j": {"value": 1.0, "protocol": "test"}}


def chapter_run(runs: Path, model: str, record: dict | None = None) -> dict:
    slug = seeds.chapter_of(model).split("/")[0]
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


def test_a_model_field_added_since_a_seed_was_committed_stales_it_only_when_set(
    tmp_path,
) -> None:
    """A seed run stored before a switch existed trained with its default."""
    runs, root = tmp_path / "_runs", tmp_path / "repo"
    record = chapter_run(runs, "mocogan")["record"]
    assert record["model"]["spectral_norm"] is False  # the switch's default
    before = {**record, "model": dict(record["model"])}
    del before["model"]["spectral_norm"]  # as stored before the switch existed
    seeds.commit([grid_run(tmp_path, "mocogan", 1, before)], root)
    found, problems = seeds.collect("cpu", (0, 1), runs, root)
    assert [r.seed for r in found["mocogan"]] == [0, 1]
    switched = {**record, "model": {**record["model"], "spectral_norm": True}}
    chapter_run(runs, "mocogan", switched)  # the chapter now turns it on
    found, problems = seeds.collect("cpu", (0, 1), runs, root)
    assert [r.seed for r in found["mocogan"]] == [0]
    (stale,) = [p for p in problems if "seed-1.json" in p]
    assert "model.spectral_norm" in stale


def test_a_committed_seed_of_other_data_is_stale(repo, monkeypatch) -> None:
    runs, root, _ = repo
    monkeypatch.setattr(seeds, "training_data", lambda record: {"version": "next"})
    with pytest.raises(seeds.StaleSeed, match="other data"):
        seeds._committed(
            "mocogan", 1, seeds.chapter_results("mocogan", "cpu", runs), root
        )


def image_gan_record(record: dict) -> dict:
    """The residual chapter's image baseline record beside an RJGAN ``record``."""
    shared = {
        f.name: record["model"][f.name]
        for f in dataclasses.fields(ResidualGANConfig)
        if f.name not in ("frames", "resolution")
    }
    model = {"name": "image_gan", **shared, "dim_z": record["model"]["dim_z"]}
    start = {**record, "model": model, "eval": {**record["eval"], "metrics": []}}
    return parse_record(start, "image baseline").as_dict()


def image_gan_run(runs: Path, record: dict) -> None:
    """The residual chapter's cpu image baseline run, of ``record``."""
    image_gan = runs / "cpu" / "residual" / "image_gan"
    write_results(
        image_gan, slug="residual", profile="cpu", seed=0, record=record, metrics={}
    )


def test_a_committed_variant_must_start_from_todays_start_record(tmp_path) -> None:
    runs, root = tmp_path / "_runs", tmp_path / "repo"
    record = chapter_run(runs, "rjgan_pretrained")["record"]
    start = image_gan_record(record)
    image_gan_run(runs, start)
    run = grid_run(tmp_path, "rjgan_pretrained", 1, record)
    path = run.run_dir / "results.json"
    seal_results(
        path, {**read_results_file(path), "start_record": seeds.seeded(start, 1)}
    )
    seeds.commit([run], root)
    found, problems = seeds.collect("cpu", (0, 1), runs, root)
    assert [r.seed for r in found["rjgan_pretrained"]] == [0, 1]
    # the image baseline's record moved on: the committed fine-tuning is stale
    moved = {**start, "model": {**start["model"], "lr_g": 0.5}}
    image_gan_run(runs, moved)
    found, problems = seeds.collect("cpu", (0, 1), runs, root)
    assert [r.seed for r in found["rjgan_pretrained"]] == [0]
    (stale,) = [p for p in problems if "rjgan_pretrained" in p]
    assert "did not start from today's residual/image_gan record" in stale
    assert seeds.command("cpu") in stale


def test_a_grid_run_with_a_start_trains_it_first_and_fine_tunes(tmp_path) -> None:
    """The start record trains in <run>/start; the run loads its weights (its training
    folder names the start) and its results record the start record."""
    record = profile_record("residual", "smoke").replace({"train.steps": 2})
    start = parse_record(image_gan_record(record.as_dict()), "image baseline")
    run_dir = tmp_path / "grid" / "rjgan_pretrained-seed0"
    run = GridRun(
        "residual",
        "smoke",
        "rjgan_pretrained",
        0,
        "test",
        record,
        run_dir,
        "hash",
        start,
    )
    results = execute_grid_run(run)
    assert results["start_record"] == start.as_dict()
    assert (run_dir / START_DIR / "train" / start.training_key()).is_dir()
    assert f"-from-{start.training_key()}-step2" in results["artifacts"]["train_dir"]
    assert read_results_file(run_dir / "results.json") == results


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
    starts = {"image_gan"}  # the run rjgan_pretrained starts from, made below
    subruns = ("rmocogan", "rjvae", *(v for v in seeds.VARIANTS if v not in starts))
    for model in subruns:  # sub-runs: any record
        chapter_run(runs, model, profile_record("residual", "cpu").as_dict())
    with pytest.raises(seeds.SeedsError, match="residual/image_gan.*runner run resid"):
        seeds.plan("cpu", (0, 1), runs)  # the run rjgan_pretrained starts from
    start = image_gan_record(profile_record("residual", "cpu").as_dict())
    image_gan_run(runs, start)
    planned = seeds.plan("cpu", (0, 1, 2), runs)
    # seed 0 of a model or variant is its chapter run; an ablation trains every seed
    assert {(r.variant, r.seed) for r in planned} == {
        (m, s) for m in (*seeds.MODELS, *seeds.VARIANTS) for s in (1, 2)
    } | {(a, s) for a in seeds.ABLATIONS for s in (0, 1, 2)}
    assert len(planned) == 2 * (len(seeds.MODELS) + len(seeds.VARIANTS)) + 3 * len(
        seeds.ABLATIONS
    )
    # the pre-trained variant trains the image baseline of its own seed first
    by_key = {(r.variant, r.seed): r for r in planned}
    pretrained, scratch = by_key["rjgan_pretrained", 2], by_key["rjgan_scratch", 2]
    assert pretrained.start is not None and scratch.start is None
    assert pretrained.start.as_dict() == seeds.seeded(start, 2)
    assert pretrained.record.as_dict() == scratch.record.as_dict()
    assert pretrained.inputs_hash != scratch.inputs_hash
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
            stored = seeds.today(committed["record"], path)
            assert stored == seeds.expected_record(key, run, seed), (
                f"{path} is stale against notebooks/params/{chapter}.cpu.yaml;"
                f" regenerate: {seeds.command('cpu')}"
            )
