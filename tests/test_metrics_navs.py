"""NAVS's latent protocols: exchange accuracy, Fig. 7 path, reconstruction."""

from __future__ import annotations

import pytest
import torch
from test_navs import SHAPES, tiny  # the same tiny NAVS and Shapes config

from vidlib.data.cells import action_exchange_split
from vidlib.data.shapes import ShapesVideos
from vidlib.metrics.judges import judge_accuracy
from vidlib.metrics.navs import (
    exchange_accuracy,
    exchange_videos,
    generate_rows,
    interpolation,
    linear_path,
    reconstruction,
)


class ConstantJudges:
    """Predicts action 0 ('right') and shape 0 ('circle') for every clip."""

    protocol = "constant"
    factors = ("shape",)

    def predict(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        zeros = torch.zeros(len(videos), dtype=torch.long)
        return {"action": zeros, "shape": zeros}


def test_linear_path_replaces_frames_three_to_five() -> None:
    z = torch.tensor([0.0, 1.0, 5.0, 7.0, 2.0, 9.0]).view(1, 6, 1)
    path = linear_path(z, first=2, last=5)[0, :, 0]
    # frames 3, 4, 5 (from 1) walk from z_2 = 1 to z_5 = 2 in thirds
    assert torch.allclose(path, torch.tensor([0.0, 1.0, 4 / 3, 5 / 3, 2.0, 9.0]))
    assert torch.equal(z[0, :, 0], torch.tensor([0.0, 1.0, 5.0, 7.0, 2.0, 9.0]))
    with pytest.raises(ValueError, match="1 <= first < last <= L = 6"):
        linear_path(z, first=5, last=7)


def test_judge_accuracy_counts_agreement_with_each_label() -> None:
    data = [
        {"action": 0, "shape": 0},
        {"action": 2, "shape": 0},
        {"action": 0, "shape": 1},
    ]
    accuracy = judge_accuracy(ConstantJudges(), torch.zeros(3, 3, 2, 8, 8), data)
    assert accuracy == pytest.approx({"action": 2 / 3, "shape": 2 / 3})


def test_exchange_accuracy_scores_the_three_sets() -> None:
    ids = [("circle", "red", "black"), ("square", "blue", "black")]
    train, held = action_exchange_split(SHAPES, ids, ["right", "up"], [(0, 1)])
    method = tiny(
        num_static=2, num_transient=2, static_key="identity", transient_key="action_row"
    )
    scores = exchange_accuracy(method, ConstantJudges(), train, held)
    value = {name: entry["value"] for name, entry in scores.items()}
    # held out: circle/up; training: circle/right, square/right, square/up
    for which in ("NAVS", "ground_truth"):
        assert value[f"exchange_held_out_cells_{which}_action_accuracy"] == 0
        assert value[f"exchange_held_out_cells_{which}_shape_accuracy"] == 1
    assert value["exchange_training_cells_NAVS_action_accuracy"] == pytest.approx(2 / 3)
    assert value["exchange_training_cells_NAVS_shape_accuracy"] == pytest.approx(1 / 3)
    assert scores["exchange_training_cells_NAVS_shape_accuracy"]["n"] == 3
    assert len(scores) == 6
    # a held-out cell is its identity's static row with its action's transient row
    assert torch.equal(exchange_videos(method, held), generate_rows(method, [0], [1]))


def test_interpolation_keeps_the_frames_before_the_path() -> None:
    data = ShapesVideos(SHAPES, size=4)
    method = tiny(num_static=4, num_transient=6, transient_key="action")
    learned, between = interpolation(method, data, (0, 1))
    assert all(net.training for net in method.nets.values())  # modes restored
    actions = [data[0]["action"], data[1]["action"]]
    assert torch.equal(learned, generate_rows(method, [0, 1], actions))
    # the GRU is causal: frames 1 and 2 (from 1) precede the path and are unchanged
    assert torch.equal(between[:, :, :2], learned[:, :, :2])
    assert not torch.equal(between[:, :, 2], learned[:, :, 2])


def test_reconstruction_is_the_mean_error_on_the_unit_scale() -> None:
    data = ShapesVideos(SHAPES, size=4)
    method = tiny(num_static=4, num_transient=6, transient_key="action")
    real, recon, entry = reconstruction(method, data, n=3)
    assert real.shape == recon.shape == (3, 3, 6, 16, 16)
    actions = [data[i]["action"] for i in range(3)]
    assert torch.equal(recon, generate_rows(method, [0, 1, 2], actions))
    assert entry["value"] == pytest.approx(((recon - real).abs().mean() / 2).item())
    assert entry["n"] == 3
