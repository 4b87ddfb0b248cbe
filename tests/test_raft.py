"""RAFT: torchvision's keys and sizes, agreement with torchvision's code, the flow
contract (units, shapes, gradients), the correlation lookup, load_raft's refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vidlib.flow import freeze, video_flow
from vidlib.flow.raft import (
    SINTEL_FILE,
    WEIGHT_FILES,
    RAFTConfig,
    convex_upsample,
    correlation_pyramid,
    load_raft,
    lookup,
    raft,
)

FIXTURES = Path(__file__).parent / "fixtures"

#: the pixels of the full-resolution flow kept in raft_torchvision_flow.json: 3×3
#: cells away from the border, every position inside a cell
CROP = (slice(56, 80), slice(64, 88))


@pytest.fixture(autouse=True)
def one_thread():
    """One thread: RAFT's many small convolutions run ~20× slower when two threads
    contend for a loaded 2-core machine (measured), and gain little otherwise."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def keys_fixture(size: str) -> dict:
    return json.loads((FIXTURES / f"raft_{size}_keys.json").read_text())


def deterministic_weights(keys: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """Weights for every key, drawn in the fixture's key order from seed 0, scaled so
    that activations stay O(1) (fan-in for conv weights); the same rule made
    raft_torchvision_flow.json from torchvision's code."""
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in keys.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
            continue
        draw = torch.randn(shape, generator=gen)
        if key.endswith("running_var"):
            draw = 1 + 0.1 * draw.abs()
        elif len(shape) == 4:
            draw = draw / math.sqrt(math.prod(shape[1:]))
        elif key.endswith("weight"):  # BatchNorm γ
            draw = 1 + 0.1 * draw
        else:  # biases, running means
            draw = 0.1 * draw
        state[key] = draw
    return state


def shifted_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two smooth 128×144 frames in [-1, 1], the second the first moved by (-5, -3)
    pixels (non-square, so an x/y swap shows); 128 is torchvision's smallest size."""
    gen = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, 17, 19, generator=gen)
    base = F.interpolate(base, size=(136, 152), mode="bilinear", align_corners=False)
    base = 2 * base - 1
    return base[..., :128, :144], base[..., 3:131, 5:149]


def small_model(updates: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return raft("small", num_flow_updates=updates)


@pytest.mark.parametrize("size", ["small", "large"])
def test_keys_and_shapes_are_torchvisions(size: str) -> None:
    """Same keys, same order, same shapes as torchvision 0.29.1's raft_<size>()."""
    with torch.device("meta"):
        model = raft(size)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(ours.items()) == list(keys_fixture(size)["keys"].items())


@pytest.mark.parametrize(
    ("size", "num_params"), [("small", 990_162), ("large", 5_257_536)]
)
def test_parameter_counts_are_torchvisions_num_params(
    size: str, num_params: int
) -> None:
    """The ``num_params`` of every torchvision weight enum member of that size."""
    with torch.device("meta"):
        model = raft(size)
    assert sum(p.numel() for p in model.parameters()) == num_params
    documented = keys_fixture(size)["weights"]
    assert {w["num_params"] for w in documented.values()} == {num_params}
    assert {w["file"] for w in documented.values()} == set(WEIGHT_FILES[size].values())


@pytest.mark.parametrize("size", ["small", "large"])
def test_flow_equals_torchvisions_on_the_same_weights(size: str) -> None:
    """torchvision's own RAFT code (3 updates, eval) on deterministic weights and a
    shifted pair gave raft_torchvision_flow.json: the 1/8 flow ×8 and a crop of its
    full-resolution prediction. Ours agrees to float rounding."""
    expected = json.loads((FIXTURES / "raft_torchvision_flow.json").read_text())[size]
    model = raft(size, num_flow_updates=3).eval()
    model.load_state_dict(deterministic_weights(keys_fixture(size)["keys"]))
    image1, image2 = shifted_pair()
    with torch.no_grad():
        flow, h = model.refine(image1, image2)
        up = model.upsampled(image1, image2)
    torch.testing.assert_close(
        8 * flow[0], torch.tensor(expected["flow"]), atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(
        up[0, :, CROP[0], CROP[1]],
        torch.tensor(expected["upsampled_crop"]),
        atol=1e-4,
        rtol=1e-4,
    )


def test_forward_is_the_grid_flow_in_input_pixels() -> None:
    """A flow head that always says Δf = (1, −0.5) cells: after n updates RAFT's grid
    flow is n·(1, −0.5), forward gives 8× that in (dx, dy) pixels, and the upsampled
    flow is the same constant (inside the border, where convex weights see padding)."""
    for size, updates in (("small", 2), ("large", 3)):
        torch.manual_seed(0)
        model = raft(size, num_flow_updates=updates).eval()
        head = model.update_block.flow_head.conv2
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor([1.0, -0.5]))
        image1, image2 = torch.rand(2, 2, 3, 64, 64) * 2 - 1
        flow = model(image1, image2)
        assert flow.shape == (2, 2, 8, 8)
        want = 8 * updates * torch.tensor([1.0, -0.5]).view(1, 2, 1, 1)
        torch.testing.assert_close(flow, want.expand_as(flow))
        up = model.upsampled(image1, image2)
        assert up.shape == (2, 2, 64, 64)
        torch.testing.assert_close(up[..., 8:-8, 8:-8], want.expand(2, 2, 48, 48))
    # and on any weights forward is the internal grid flow times the stride
    model = small_model()
    torch.testing.assert_close(
        model(image1, image2), 8 * model.refine(image1, image2)[0]
    )


def test_gradient_reaches_both_frames_through_a_frozen_raft() -> None:
    model = freeze(small_model())
    video = (torch.rand(1, 3, 3, 64, 64) * 2 - 1).requires_grad_()
    flows = video_flow(model, video)
    assert flows.shape == (1, 2, 2, 8, 8)  # 64×64, where torchvision's RAFT is NaN
    assert torch.isfinite(flows).all()
    flows[:, :, 0].square().sum().backward()  # frames 0 → 1 only
    grad = video.grad.abs().sum(dim=(0, 1, 3, 4))
    assert grad[0] > 0 and grad[1] > 0 and grad[2] == 0
    assert all(p.grad is None for p in model.parameters())


def test_no_gradient_flows_through_the_lookup_positions() -> None:
    """As the official code, each update starts from detached coordinates: with a
    constant Δf = bias, d(flow)/d(bias) counts the last update only (8 px per cell),
    not all n of them."""
    model = raft("small", num_flow_updates=3).eval()
    head = model.update_block.flow_head.conv2
    with torch.no_grad():
        head.weight.zero_()
    image1, image2 = torch.rand(2, 1, 3, 64, 64) * 2 - 1
    model(image1, image2)[:, 0].sum().backward()
    torch.testing.assert_close(head.bias.grad, torch.tensor([8.0 * 64, 0.0]))


def test_correlation_pyramid_is_the_scaled_all_pairs_dot_product() -> None:
    gen = torch.Generator().manual_seed(0)
    g1, g2 = torch.randn(2, 2, 3, 4, 6, generator=gen)  # B=2, D=3, h=4, w=6
    pyramid = correlation_pyramid(g1, g2, levels=3)
    assert [p.shape for p in pyramid] == [(48, 1, 4, 6), (48, 1, 2, 3), (48, 1, 1, 1)]
    b, i, j, k, m = 1, 2, 5, 3, 1  # C[b, i, j, k, m]: cell (i, j) of 1, (k, m) of 2
    direct = sum(g1[b, d, i, j] * g2[b, d, k, m] for d in range(3)) / math.sqrt(3)
    torch.testing.assert_close(pyramid[0][b * 24 + i * 6 + j, 0, k, m], direct)
    block = pyramid[0][b * 24 + i * 6 + j, 0, 2:4, 2:4].mean()
    torch.testing.assert_close(pyramid[1][b * 24 + i * 6 + j, 0, 1, 1], block)
    torch.testing.assert_close(
        pyramid[2][:, 0, 0, 0], pyramid[0][:, 0, :4, :4].mean(dim=(1, 2))
    )


def bilinear(image: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Sample of a 2-D ``image`` at pixel (x, y), zero outside, written out."""
    x0, y0 = math.floor(x), math.floor(y)
    total = torch.tensor(0.0)
    for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        if 0 <= xi < image.shape[1] and 0 <= yi < image.shape[0]:
            total = total + (1 - abs(x - xi)) * (1 - abs(y - yi)) * image[yi, xi]
    return total


def test_lookup_samples_each_level_on_the_window_around_x_over_2k() -> None:
    """Channel k·(2r+1)² + i·(2r+1) + j of cell (row, col) is level k at
    (x/2^k + i − r, y/2^k + j − r): checked against a written-out bilinear sample on
    every level, the 1-cell one included (finite, zero-padded), and against the
    (size − 1) normalisation torchvision uses where that one is defined."""
    gen = torch.Generator().manual_seed(0)
    g1, g2 = torch.randn(2, 1, 4, 4, 4, generator=gen)
    pyramid = correlation_pyramid(g1, g2, levels=3)  # 4×4, 2×2, 1×1
    coords = torch.rand(1, 2, 4, 4, generator=gen) * 4 - 0.5  # x' anywhere near
    radius = 1
    corr = lookup(pyramid, coords, radius)
    assert corr.shape == (1, 3 * 9, 4, 4)
    assert torch.isfinite(corr).all()
    for row, col in ((0, 0), (2, 3), (3, 1)):
        x, y = coords[0, :, row, col].tolist()
        for k in range(3):
            level = pyramid[k][row * 4 + col, 0]
            for i in range(3):
                for j in range(3):
                    want = bilinear(level, x / 2**k + i - 1, y / 2**k + j - 1)
                    got = corr[0, k * 9 + i * 3 + j, row, col]
                    torch.testing.assert_close(got, want)
    # torchvision's form on the levels of 2 cells or more
    for k in (0, 1):
        level = pyramid[k]
        side = level.shape[-1]
        offsets = torch.arange(-radius, radius + 1.0)
        window = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)
        points = coords.permute(0, 2, 3, 1).reshape(16, 1, 1, 2) / 2**k + window
        theirs = F.grid_sample(level, 2 * points / (side - 1) - 1, align_corners=True)
        torch.testing.assert_close(
            corr[0, k * 9 : (k + 1) * 9], theirs.reshape(4, 4, 9).permute(2, 0, 1)
        )


def test_convex_upsampling_places_each_pixel_of_a_cell() -> None:
    """A mask that sends the top half of every cell (rows a < 4) to the neighbour
    above and the rest to the cell itself: rows a < 4 show 8·f of the cell above."""
    flow = torch.randn(1, 2, 3, 4)
    mask = torch.full((1, 9, 8, 8, 3, 4), -1e4)
    mask[:, 1, :4] = 1e4  # neighbour (−1, 0) of the 3×3, numbered row-major
    mask[:, 4, 4:] = 1e4  # the cell itself
    up = convex_upsample(flow, mask.reshape(1, 9 * 64, 3, 4))
    assert up.shape == (1, 2, 24, 32)
    torch.testing.assert_close(up[0, :, 8 + 2, 8 * 3 + 5], 8 * flow[0, :, 0, 3])
    torch.testing.assert_close(up[0, :, 8 + 6, 8 * 3 + 5], 8 * flow[0, :, 1, 3])
    torch.testing.assert_close(up[0, :, 2, 5], torch.zeros(2))  # above: padding


def test_load_raft_round_trip(tmp_path: Path) -> None:
    model = small_model(updates=1).eval()
    path = tmp_path / "raft_small.pth"
    torch.save(model.state_dict(), path)
    loaded = load_raft(path, "small").eval()
    loaded.num_flow_updates = 1
    image1, image2 = torch.rand(2, 1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(image1, image2), model(image1, image2))


def test_load_raft_accepts_a_file_without_batchnorm_counters(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = raft("large").state_dict()
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert counters
    path = tmp_path / SINTEL_FILE
    torch.save({k: v for k, v in state.items() if k not in counters}, path)
    loaded = load_raft(path, "large")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())


def _drop(state: dict) -> str:
    key = "update_block.flow_head.conv2.bias"
    del state[key]
    return key


def _add(state: dict) -> str:
    state["module.fnet.conv1.weight"] = torch.zeros(1)
    return "module.fnet.conv1.weight"


def _reshape(state: dict) -> str:
    key = "context_encoder.conv.weight"
    state[key] = state[key][:10]
    return key


@pytest.mark.parametrize(
    ("change", "kind"),
    [(_drop, "missing"), (_add, "unexpected"), (_reshape, "wrong-shaped")],
)
def test_load_raft_refuses_keys_that_do_not_match(
    tmp_path: Path, change, kind: str
) -> None:
    state = small_model().state_dict()
    key = change(state)
    path = tmp_path / "weights.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=kind) as info:
        load_raft(path, "small")
    assert str(path) in str(info.value) and key in str(info.value)
    assert f"{kind} keys 1: " in str(info.value)


def test_load_raft_lists_a_few_keys_and_the_count(tmp_path: Path) -> None:
    state = {f"{k}.extra": v for k, v in small_model().state_dict().items()}
    path = tmp_path / "other.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing keys 106: .* and 101 more"):
        load_raft(path, "small")


def test_load_raft_names_the_file_it_expected(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError, match=SINTEL_FILE) as info:
        load_raft(path, "large")
    assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match=WEIGHT_FILES["small"]["C_T_V2"]):
        load_raft(path, "small")


@pytest.mark.parametrize(
    ("shape1", "shape2", "message"),
    [
        ((1, 3, 64, 68), (1, 3, 64, 68), "divisible by 8 .*, got 64x68"),
        ((1, 3, 56, 64), (1, 3, 56, 64), ">= 64.*pools the 1/8 map 3 times"),
        ((1, 3, 64, 64), (2, 3, 64, 64), "same shape"),
        ((1, 3, 64, 64), (1, 3, 72, 64), "same shape"),
        ((1, 1, 64, 64), (1, 1, 64, 64), r"\(B, 3, H, W\)"),
    ],
)
def test_input_errors(shape1: tuple, shape2: tuple, message: str) -> None:
    model = small_model()
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape1), torch.zeros(shape2))


def test_config_and_size_refusals() -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        raft("medium")
    with pytest.raises(ValueError, match="block must be one of"):
        RAFTConfig(block="dense")
    with pytest.raises(ValueError, match="context_norm must be one of"):
        RAFTConfig(context_norm="group")
    with pytest.raises(ValueError, match="context_widths"):
        RAFTConfig(hidden=256)
    assert RAFTConfig(levels=5).min_side == 128
