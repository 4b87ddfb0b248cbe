"""Rebuilding a finished run's Method (``vidlib.models.load_trained``): the same
networks come back, and a run on other data or without a checkpoint is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.models import build, load_trained
from vidlib.models.mocogan import MoCoGAN, MoCoGANConfig
from vidlib.train import TrainConfig, fit


def tiny_data(**overrides) -> ShapesVideos:
    config = ShapesConfig(
        resolution=16,
        frames=6,
        shapes=("circle",),
        colors=("red", "green"),
        **overrides,
    )
    return ShapesVideos(config, size=8)


def finished_run(folder: Path) -> tuple[MoCoGAN, ShapesVideos]:
    """Two training steps into ``folder``, and the results.json of a notebook."""
    torch.manual_seed(0)
    config = MoCoGANConfig(
        dim_z_content=4,
        dim_z_motion=2,
        frames=6,
        resolution=16,
        ngf=4,
        ndf=4,
        video_temporal_padding=1,
    )
    method, data = MoCoGAN(config), tiny_data()
    fit(
        method,
        data,
        TrainConfig(
            out_dir=str(folder),
            steps=2,
            batch_size=4,
            checkpoint_every=2,
            sample_every=2,
            progress=False,
        ),
    )
    params = {"model": method.config, "data": data.config}
    (folder / "results.json").write_text(json.dumps({"params": params}))
    return method, data


def test_load_trained_returns_the_trained_networks(tmp_path: Path) -> None:
    method, data = finished_run(tmp_path)
    loaded, step = load_trained(tmp_path, data.config)
    assert step == 2 and isinstance(loaded, MoCoGAN)
    assert loaded.cfg == method.cfg
    for name, net in method.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(loaded.nets[name].state_dict()[key], value), (name, key)


def test_load_trained_refuses_other_data_and_missing_files(tmp_path: Path) -> None:
    _, data = finished_run(tmp_path)
    other = tiny_data(actions=("right", "left"))
    with pytest.raises(ValueError, match=r"used other data .*'actions'"):
        load_trained(tmp_path, other.config)
    with pytest.raises(ValueError, match=r"results.json not found"):
        load_trained(tmp_path / "nowhere", data.config)
    for path in (tmp_path / "checkpoints").iterdir():
        path.unlink()
    with pytest.raises(ValueError, match="holds no checkpoint"):
        load_trained(tmp_path, data.config)


def test_build_names_the_known_models() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'vgan': expected one of"):
        build({"model": "vgan"})
