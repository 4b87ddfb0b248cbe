"""``vidlib.method.load_trained`` on finished ``run_experiment`` runs of MoCoGAN and
G3AN: the trained networks come back, and an unfinished or foreign folder is refused
with its name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vidlib import checkpoint as ckpt
from vidlib.experiment import Experiment, run_experiment
from vidlib.method import build, load_trained
from vidlib.models.g3an import G3AN
from vidlib.models.mocogan import MoCoGAN
from vidlib.results import seal_results

DATA = {
    "resolution": 16,
    "frames": 8,
    "shapes": ["circle"],
    "colors": ["red", "green"],
    "backgrounds": ["black"],
    "actions": ["right", "left"],
    "size": 8,
}
TRAIN = {
    "steps": 2,
    "batch_size": 4,
    "checkpoint_every": 2,
    "sample_every": 2,
    "progress": False,
}
MODELS = {
    "mocogan": {
        "name": "mocogan",
        "dim_z_content": 4,
        "dim_z_motion": 2,
        "ngf": 4,
        "ndf": 4,
        "video_temporal_padding": 1,
    },
    "g3an": {
        "name": "g3an",
        "dim_z_a": 4,
        "dim_z_m": 2,
        "temporal_upsamples": 1,
        "ngf": 4,
        "ndf": 4,
        "fsa_position": 1,
        "video_discriminator": "2+1d",
        "video_temporal_padding": 1,
    },
}


def tiny_record(model: str) -> dict:
    return {
        "data": DATA,
        "model": MODELS[model],
        "train": TRAIN,
        "eval": {"metrics": ["mfd"], "num": 4},
    }


@pytest.fixture(scope="module", params=["mocogan", "g3an"])
def finished(request: pytest.FixtureRequest, tmp_path_factory) -> Experiment:
    out = tmp_path_factory.mktemp(request.param)
    return run_experiment(tiny_record(request.param), out, slug=request.param)


def test_load_trained_returns_the_trained_networks(finished: Experiment) -> None:
    loaded, step, results = load_trained(finished.out_dir)
    assert step == 2
    assert type(loaded) is {"mocogan": MoCoGAN, "g3an": G3AN}[results["slug"]]
    assert type(loaded) is type(finished.method)
    assert loaded.cfg == finished.method.cfg
    for name, net in finished.method.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(loaded.nets[name].state_dict()[key], value), (name, key)


def test_load_trained_refuses_missing_results_checkpoint_and_record(
    finished: Experiment, tmp_path: Path
) -> None:
    nowhere = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=f"{nowhere}.*not found"):
        load_trained(nowhere)

    no_record = tmp_path / "no_record"
    shutil.copytree(finished.out_dir, no_record)
    results = json.loads((no_record / "results.json").read_text())
    del results["record"]
    seal_results(no_record / "results.json", results)
    with pytest.raises(ValueError, match=f"{no_record}.*holds no experiment record"):
        load_trained(no_record)

    no_checkpoint = tmp_path / "no_checkpoint"
    shutil.copytree(finished.out_dir, no_checkpoint)
    for path in no_checkpoint.glob("train/*/checkpoints/*"):
        path.unlink()
    with pytest.raises(ValueError, match=f"{no_checkpoint}.*holds no checkpoint"):
        load_trained(no_checkpoint)

    other_nets = tmp_path / "other_nets"
    shutil.copytree(finished.out_dir, other_nets)
    path = sorted(other_nets.glob("train/*/checkpoints/*.pt"))[-1]
    payload = ckpt.load_checkpoint(path)
    payload["nets"]["extra"] = {}
    ckpt.save_checkpoint(path, payload)
    with pytest.raises(ValueError, match=r"has nets \[.*'extra'.*different model"):
        load_trained(other_nets)


def test_build_names_the_known_models() -> None:
    with pytest.raises(
        ValueError, match=r"unknown model 'dcgan': .*expected one of \[.*'vgan'"
    ):
        build({"name": "dcgan"})
