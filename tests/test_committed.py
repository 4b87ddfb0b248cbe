"""Committed reference runs: made, reloaded to the same samples, refused when stale
(with the command that regenerates them), size-limited; and every reference folder
committed in this repository matches the code and params that would make it now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from test_method import tiny_record

from vidlib import checkpoint as ckpt
from vidlib import committed
from vidlib.committed import (
    StaleReference,
    check_reference,
    load_reference,
    make_reference,
    reference_dir,
    show_reference,
)
from vidlib.data import shapes
from vidlib.method import build, load_trained, sample
from vidlib.results import ROOT


def reference_record() -> dict:
    record = tiny_record("mocogan")
    record["model"] = {**record["model"], "ema_decay": 0.5}
    return record


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, Path]:
    """(repository root with a reference params file, the finished training run)."""
    tmp = tmp_path_factory.mktemp("committed")
    params = tmp / "repo" / "notebooks" / "params"
    params.mkdir(parents=True)
    (params / "mocogan.reference.yaml").write_text(yaml.safe_dump(reference_record()))
    make_reference("mocogan", root=tmp / "repo", out_dir=tmp / "run")
    return tmp / "repo", tmp / "run"


def test_reference_reloads_to_the_trained_samples(made) -> None:
    root, run = made
    folder = reference_dir("mocogan", root)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["reference.json", "results.json", "weights.pt"]
    saved = torch.load(folder / "weights.pt", weights_only=True)["nets"]
    assert sorted(saved) == ["G_ema"]  # no discriminator, no live G
    reloaded = load_reference("mocogan", root, evaluate=False)
    trained, step, _ = load_trained(run)
    assert reloaded.fitted.step == step == reference_record()["train"]["steps"]
    assert torch.equal(sample(reloaded.method, 4, 0), sample(trained, 4, 0))
    manifest = json.loads((folder / "reference.json").read_text())
    assert manifest["command"] == "python -m vidlib.committed mocogan"
    assert {"git_sha", "versions", "created"} <= set(manifest["provenance"])


def test_reference_is_evaluated_on_this_machine(made) -> None:
    root, _ = made
    reloaded = load_reference("mocogan", root)
    stored = json.loads((reference_dir("mocogan", root) / "results.json").read_text())
    assert reloaded.metrics["mfd_fake"]["value"] == pytest.approx(
        stored["metrics"]["mfd_fake"]["value"], rel=1e-6
    )


def test_a_changed_params_file_makes_the_reference_stale(made, tmp_path) -> None:
    root, _ = made
    params = root / "notebooks" / "params" / "mocogan.reference.yaml"
    original = params.read_text()
    changed = reference_record()
    changed["model"]["ngf"] = 8
    params.write_text(yaml.safe_dump(changed))
    try:
        with pytest.raises(
            StaleReference,
            match=r"differs in model\.ngf.*"
            r"python -m vidlib\.committed mocogan",
        ):
            check_reference("mocogan", root)
    finally:
        params.write_text(original)
    check_reference("mocogan", root)


def test_a_model_field_added_since_stales_the_reference_only_when_set(made) -> None:
    """A reference made before a switch existed trained with its default: its
    manifest's record and config hash lack the field."""
    root, _ = made
    path = reference_dir("mocogan", root) / "reference.json"
    params = root / "notebooks" / "params" / "mocogan.reference.yaml"
    original, original_params = path.read_text(), params.read_text()
    manifest = json.loads(original)
    assert manifest["record"]["model"].pop("spectral_norm") is False
    stored = check_reference("mocogan", root)
    with torch.device("meta"):
        config = build(stored.model, untrained=True).config
    del config["spectral_norm"]  # the config the code before the switch hashed
    manifest["config_hash"] = ckpt.config_hash(config)
    path.write_text(json.dumps(manifest))
    switched = reference_record()
    switched["model"]["spectral_norm"] = True
    try:
        check_reference("mocogan", root)
        params.write_text(yaml.safe_dump(switched))
        with pytest.raises(StaleReference, match=r"differs in model\.spectral_norm"):
            check_reference("mocogan", root)
    finally:
        path.write_text(original)
        params.write_text(original_params)


def test_changed_model_code_makes_the_reference_stale(made) -> None:
    root, _ = made
    path = reference_dir("mocogan", root) / "reference.json"
    original = path.read_text()
    path.write_text(json.dumps(json.loads(original) | {"config_hash": "0" * 16}))
    try:
        with pytest.raises(StaleReference, match="other model code"):
            load_reference("mocogan", root, evaluate=False)
    finally:
        path.write_text(original)


def test_changed_data_code_makes_the_reference_stale(made, monkeypatch) -> None:
    """A new Shapes version (how a config's videos are drawn) stales the run."""
    root, _ = made
    folder = reference_dir("mocogan", root)
    made_on = json.loads((folder / "reference.json").read_text())["data"]["dataset"]
    assert made_on == shapes.DATASET
    monkeypatch.setattr(shapes, "DATASET", "shapes-v99")
    with pytest.raises(
        StaleReference,
        match=rf"other data \({made_on}; the code now draws shapes-v99\).*"
        r"python -m vidlib\.committed mocogan",
    ):
        check_reference("mocogan", root)


def test_reference_names_split_into_chapter_and_profile() -> None:
    assert committed.split_name("g3an") == ("g3an", "reference")
    assert committed.split_name("g3an/conditional") == (
        "g3an",
        "reference-conditional",
    )
    for bad in ("", "/x", "g3an/", "g3an/a/b"):
        with pytest.raises(ValueError, match="expected <slug> or <slug>/<variant>"):
            committed.split_name(bad)


def test_a_variant_reference_has_its_own_params_folder_and_command(made) -> None:
    """``mocogan/narrow`` reads ``mocogan.reference-narrow.yaml`` and commits under
    ``reference-narrow``, beside the chapter's reference and without touching it."""
    root, _ = made
    main = {p.name: p.read_bytes() for p in reference_dir("mocogan", root).iterdir()}
    params = root / "notebooks" / "params"
    record = reference_record()
    record["model"]["ngf"] = 8
    (params / "mocogan.reference-narrow.yaml").write_text(yaml.safe_dump(record))
    try:
        target = make_reference("mocogan/narrow", root=root, out_dir=root / "narrow")
        assert target == root / "book" / "results" / "mocogan" / "reference-narrow"
        manifest = json.loads((target / "reference.json").read_text())
        assert manifest["command"] == "python -m vidlib.committed mocogan/narrow"
        assert (manifest["slug"], manifest["name"]) == ("mocogan", "mocogan/narrow")
        narrow = load_reference("mocogan/narrow", root, evaluate=False)
        assert narrow.method.cfg.ngf == 8
        assert load_reference("mocogan", root, evaluate=False).method.cfg.ngf != 8
        assert main == {
            p.name: p.read_bytes() for p in reference_dir("mocogan", root).iterdir()
        }
        record["model"]["ngf"] = 4
        (params / "mocogan.reference-narrow.yaml").write_text(yaml.safe_dump(record))
        with pytest.raises(
            StaleReference,
            match=r"mocogan\.reference-narrow\.yaml gives now \(differs in model\.ngf\)"
            r".*python -m vidlib\.committed mocogan/narrow",
        ):
            check_reference("mocogan/narrow", root)
    finally:
        (params / "mocogan.reference-narrow.yaml").unlink()


def test_missing_reference_names_the_command(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="python -m vidlib.committed navs"):
        check_reference("navs", tmp_path)


def test_oversized_weights_are_refused_and_the_old_reference_kept(
    made, monkeypatch
) -> None:
    root, run = made
    folder = reference_dir("mocogan", root)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr(committed, "MAX_BYTES", 100)
    with pytest.raises(ValueError, match="even in float16, over the 0 MiB"):
        make_reference("mocogan", root=root, out_dir=run)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_weights_over_the_limit_in_float32_are_committed_in_float16(
    made, tmp_path, monkeypatch
) -> None:
    root, run = made
    float32 = (reference_dir("mocogan", root) / "weights.pt").stat().st_size
    params = tmp_path / "notebooks" / "params"
    params.mkdir(parents=True)
    (params / "mocogan.reference.yaml").write_text(yaml.safe_dump(reference_record()))
    monkeypatch.setattr(committed, "MAX_BYTES", float32 - 1)
    folder = make_reference("mocogan", root=tmp_path, out_dir=run)
    assert (folder / "weights.pt").stat().st_size < float32
    saved = torch.load(folder / "weights.pt", weights_only=True)["nets"]["G_ema"]
    assert {v.dtype for v in saved.values() if v.is_floating_point()} == {torch.float16}
    assert json.loads((folder / "reference.json").read_text())["weights_dtype"] == (
        "float16"
    )
    reloaded = load_reference("mocogan", tmp_path, evaluate=False).method
    trained = load_trained(run)[0]
    assert all(p.dtype == torch.float32 for p in reloaded.nets["G"].parameters())
    rounded, exact = sample(reloaded, 4, 0), sample(trained, 4, 0)
    assert not torch.equal(rounded, exact)
    torch.testing.assert_close(rounded, exact, atol=2e-2, rtol=0)


@pytest.mark.parametrize("damage", [b"not a checkpoint", None])
def test_damaged_weights_name_the_file_and_the_command(made, damage) -> None:
    root, _ = made
    path = reference_dir("mocogan", root) / "weights.pt"
    original = path.read_bytes()
    if damage is None:  # a readable file that is not a weights file
        torch.save({"something": 1}, path)
    else:
        path.write_bytes(damage)
    try:
        with pytest.raises(ValueError, match=r"weights\.pt cannot be read as mocogan"):
            load_reference("mocogan", root, evaluate=False)
    finally:
        path.write_bytes(original)
    load_reference("mocogan", root, evaluate=False)


COMMITTED = sorted(  # reference -> <slug>, reference-<variant> -> <slug>/<variant>
    p.parent.name + p.name.removeprefix("reference").replace("-", "/", 1)
    for p in ROOT.glob("book/results/*/reference*")
)


@pytest.mark.parametrize("slug", COMMITTED)
def test_committed_reference_runs_are_current(slug: str) -> None:
    check_reference(slug)


def test_show_reference_reports_steps_and_the_bar(made, capsys) -> None:
    root, _ = made
    show_reference(load_reference("mocogan", root), "MoCoGAN")
    out = capsys.readouterr().out
    steps = reference_record()["train"]["steps"]
    assert f"reference run: {steps} steps" in out
    assert f"MoCoGAN (reference, {steps} steps) did not measure:" in out
    assert " min of training on cpu (" in out


def test_the_reference_names_the_device_it_was_trained_on(made, tmp_path) -> None:
    """The manifest takes ``trained_on`` from the checkpoint (a run trained on a GPU
    and committed from a CPU machine names the GPU, not the committing machine; one
    resumed on another machine names both, with their steps)."""
    root, run = made
    folder = reference_dir("mocogan", root)
    manifest = json.loads((folder / "reference.json").read_text())
    assert manifest["trained_on"] == "cpu"
    last = sorted(run.rglob("step-*.pt"))[-1]
    payload = torch.load(last, weights_only=False)
    assert payload["device"] == "cpu"
    assert payload["devices"] == [["cpu", payload["step"]]]
    moved = tmp_path / last.name
    before = {k: v for k, v in payload.items() if k != "devices"}  # an older format
    torch.save({**before, "device": "NVIDIA H200"}, moved)
    assert committed.trained_on(moved) == "NVIDIA H200"
    torch.save({k: v for k, v in before.items() if k != "device"}, moved)
    assert committed.trained_on(moved) == "unrecorded"
    torch.save({**payload, "devices": [["NVIDIA H200", 5000], ["cpu", 200]]}, moved)
    assert committed.trained_on(moved) == (
        "NVIDIA H200 for 5,000 steps, then cpu for 200 steps"
    )


def test_no_reference_reason(made, tmp_path) -> None:
    root, _ = made
    run = load_reference("mocogan", root, evaluate=False)  # loaded without judges
    reason = committed.no_reference_reason
    assert "only where this run has judges" in reason("mocogan", run, root)
    assert "navs has no committed reference run" in reason("navs", run, tmp_path)
