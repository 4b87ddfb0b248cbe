"""The embedded flow estimator: the contract, the grid target, the end-point error,
the cache, determinism, freezing, and that a short training beats zero flow."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from vidlib import shapes_flow
from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.flow import freeze, video_flow
from vidlib.flow.small import SmallFlow, SmallFlowConfig
from vidlib.shapes_flow import (
    FlowTraining,
    endpoint_error,
    grid_flow,
    load_flow_estimator,
)

# 300 steps of 8 clips at 32x32x8: 4.6 s of training on one core (load ~1), and an
# end-point error on moving cells of 0.146 px against zero flow's 0.523 (16 test clips).
QUICK = FlowTraining(steps=300, batch_size=8, test_size=16)
TINY = FlowTraining(steps=2, batch_size=2, width=2, test_size=2)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flow-cache")


@pytest.fixture(scope="module")
def quick(cache_dir: Path) -> SmallFlow:
    return load_flow_estimator(
        32, frames=8, training=QUICK, cache_dir=cache_dir, progress=False
    )


def test_output_follows_the_contract() -> None:
    torch.manual_seed(0)
    net = SmallFlow(SmallFlowConfig(width=4))
    assert net.stride == 8
    frames = torch.rand(2, 3, 5, 32, 48) * 2 - 1
    flows = video_flow(net, frames)
    assert flows.shape == (2, 2, 4, 4, 6)
    assert SmallFlow(SmallFlowConfig(width=4, stride=4))(
        frames[:, :, 0], frames[:, :, 1]
    ).shape == (2, 2, 8, 12)


@pytest.mark.parametrize("action", ["right", "up"])
def test_trained_flow_is_in_input_pixels_along_the_motion(
    quick: SmallFlow, action: str
) -> None:
    """Shapes moving one way: on the moving cells the mean estimate points the
    same way as the mean target and has about its length, in pixels."""
    config = ShapesConfig(resolution=32, frames=8, actions=(action,))
    data = ShapesVideos(config, size=4, seed=3, split="test", with_flow=True)
    video = torch.stack([data[i]["video"] for i in range(4)])
    target = grid_flow(torch.stack([data[i]["flow"] for i in range(4)]), 8)
    moving = target.ne(0).any(1)
    flow = video_flow(quick, video)
    mean_target, mean_flow = (
        torch.stack([x[:, 0][moving].mean(), x[:, 1][moving].mean()])
        for x in (target, flow)
    )
    assert torch.cosine_similarity(mean_flow, mean_target, dim=0) > 0.95
    assert 0.7 < mean_flow.norm() / mean_target.norm() < 1.3


def test_grid_target_is_the_mean_over_each_cell() -> None:
    flow = torch.zeros(2, 8, 8)
    flow[0, 0:2, 0:3] = 2.0  # 6 of the 16 pixels of cell (0, 0) move right by 2
    flow[1, 5, 6] = -4.0  # one pixel of cell (1, 1) moves up by 4
    grid = grid_flow(flow, 4)
    expected = torch.zeros(2, 2, 2)
    expected[0, 0, 0] = 6 * 2.0 / 16
    expected[1, 1, 1] = -4.0 / 16
    assert torch.equal(grid, expected)
    assert grid_flow(torch.ones(3, 2, 5, 16, 16), 8).shape == (3, 2, 5, 2, 2)
    with pytest.raises(ValueError, match="no grid of stride 3"):
        grid_flow(flow, 3)


def test_endpoint_error_by_hand() -> None:
    target = torch.tensor([[[0.0, 3.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]])[None]
    pred = torch.tensor([[[0.0, 0.0], [1.0, 0.0]], [[0.0, 4.0], [0.0, 1.0]]])[None]
    # cells: (0,0) 0; (0,1) |(-3, 4)| = 5; (1,0) |(1, 0)| = 1; (1,1) 0
    assert endpoint_error(pred, target).item() == pytest.approx(6 / 4)
    # moving cells: (0,1) and (1,1)
    assert endpoint_error(pred, target, moving_only=True).item() == pytest.approx(5 / 2)
    with pytest.raises(ValueError, match="pred and target"):
        endpoint_error(pred, target[:, :1])


def test_cache_hit_loads_and_a_changed_setting_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_train = shapes_flow.train_flow
    monkeypatch.setattr(
        shapes_flow,
        "train_flow",
        lambda *args, **kwargs: calls.append(args) or real_train(*args, **kwargs),
    )

    def load(**changed) -> SmallFlow:
        settings = dict(frames=4, seed=0, training=TINY) | changed
        return load_flow_estimator(16, **settings, cache_dir=tmp_path, progress=False)

    first = load()
    assert len(calls) == 1
    folder = tmp_path / first.cache_key
    assert (folder / "flow.pt").is_file() and (folder / "report.json").is_file()
    again = load()
    assert len(calls) == 1  # loaded, not trained
    assert again.report == first.report and again.cache_key == first.cache_key
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert not again.training and not any(p.requires_grad for p in again.parameters())

    keys = {first.cache_key}
    for changed in (
        dict(training=FlowTraining(**{**TINY.__dict__, "lr": 1e-3})),
        dict(seed=1),
        dict(frames=3),
    ):
        keys.add(load(**changed).cache_key)
    assert len(calls) == 4 and len(keys) == 4  # each change trained anew, apart


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    """Whatever the caller's random state: the seed alone decides."""
    estimators = []
    for caller_seed in (1, 2):
        torch.manual_seed(caller_seed)
        estimators.append(
            load_flow_estimator(
                16,
                frames=4,
                training=TINY,
                cache_dir=tmp_path / str(caller_seed),
                progress=False,
            )
        )
    a, b = estimators
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert a.report == b.report


def test_training_and_loading_leave_the_callers_random_state_alone(
    tmp_path: Path,
) -> None:
    """Trained or read from the cache, the estimator changes nothing the caller
    draws next (a model built after it gets the same weights either way)."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    for _ in ("trained", "cached"):
        torch.manual_seed(123)
        load_flow_estimator(
            16, frames=4, training=TINY, cache_dir=tmp_path, progress=False
        )
        assert torch.equal(torch.rand(3), expected)


class Crash(RuntimeError):
    pass


def test_interrupted_training_resumes_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = FlowTraining(steps=4, batch_size=2, width=2, test_size=2)
    monkeypatch.setattr(shapes_flow, "CHECKPOINT_EVERY", 2)
    straight = load_flow_estimator(
        16, frames=4, training=training, cache_dir=tmp_path / "a", progress=False
    )
    real_step, steps = shapes_flow.FlowTrainer.train_step, []

    def crash_at_3(self, batch: dict, step: int) -> dict[str, float]:
        steps.append(step)
        if step == 3 and steps.count(3) == 1:
            raise Crash
        return real_step(self, batch, step)

    monkeypatch.setattr(shapes_flow.FlowTrainer, "train_step", crash_at_3)
    with pytest.raises(Crash):
        load_flow_estimator(
            16, frames=4, training=training, cache_dir=tmp_path / "b", progress=False
        )
    resumed = load_flow_estimator(
        16, frames=4, training=training, cache_dir=tmp_path / "b", progress=False
    )
    assert steps == [0, 1, 2, 3, 2, 3]  # resumed from the checkpoint after step 2
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_frozen_estimator_passes_gradients_but_never_learns() -> None:
    torch.manual_seed(0)
    estimator = freeze(SmallFlow(SmallFlowConfig(width=4)))
    before = {k: v.clone() for k, v in estimator.state_dict().items()}
    upstream = nn.Conv3d(3, 3, 1)  # stands in for a generator
    opt = torch.optim.Adam([*upstream.parameters(), *estimator.parameters()], lr=0.1)
    noise = torch.randn(2, 3, 3, 16, 16)
    video = upstream(noise).tanh()
    video.retain_grad()
    video_flow(estimator, video).pow(2).sum().backward()
    assert video.grad is not None and video.grad.abs().sum() > 0
    assert all(p.grad is None for p in estimator.parameters())
    assert upstream.weight.grad.abs().sum() > 0
    weight = upstream.weight.detach().clone()
    opt.step()
    assert not torch.equal(upstream.weight, weight)  # the step did happen
    for key, value in estimator.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not estimator.training


def test_short_training_beats_zero_flow(quick: SmallFlow) -> None:
    """QUICK's 300 steps: the moving cells' end-point error is under half of zero
    flow's (measured 0.146 against 0.523; TV-L1 0.419)."""
    report = quick.report
    assert report["moving_cells"] > 100
    assert report["epe_net"]["moving"] < 0.5 * report["epe_zero"]["moving"]
    assert report["epe_net"]["all"] < report["epe_zero"]["all"]
    assert report["epe_tvl1"]["moving"] < report["epe_zero"]["moving"]


def test_bad_input_is_named() -> None:
    net = SmallFlow(SmallFlowConfig(width=2))
    with pytest.raises(ValueError, match="at least 2 frames, got T = 1"):
        video_flow(net, torch.zeros(1, 3, 1, 16, 16))
    with pytest.raises(ValueError, match="stride 8 needs H and W divisible"):
        net(torch.zeros(1, 3, 20, 16), torch.zeros(1, 3, 20, 16))
    with pytest.raises(ValueError, match="image1 and image2"):
        net(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="frames must be >= 2"):
        load_flow_estimator(32, frames=1)
    with pytest.raises(ValueError, match="resolution must be divisible.*stride 8"):
        load_flow_estimator(20, frames=4)
    with pytest.raises(ValueError, match="stride must be a power of two"):
        SmallFlowConfig(stride=6)
    with pytest.raises(ValueError, match="pairs must be a positive int"):
        FlowTraining(pairs=0)
