"""AVLAE: paper-size counts and shapes, the losses of Eqs. (8)-(10), Alg. 1's update
sets, gradients through the frozen flow estimator, the Table 3 ablations, bad
configs and inputs (exact resume: tests/test_train.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidlib.flow.raft import raft
from vidlib.method import build, method_classes, sample
from vidlib.models.avlae import (
    AVLAE,
    AVLAEConfig,
    code_stream,
    latent_reconstruction_loss,
)
from vidlib.nn import sample_frames
from vidlib.shapes_flow import FlowTraining

TINY = dict(dim_z=8, dim_w=8, frames=4, resolution=16, ngf=4, ndf=4)


class StandInFlow(nn.Module):
    """A flow estimator that obeys vidlib.flow's contract: both frames avg-pooled to
    1/stride, a 1×1 conv of frame 1 and the difference to (dx, dy), in input pixels.
    Differentiable, with parameters for the freezing to freeze."""

    def __init__(self, stride: int = 4) -> None:
        super().__init__()
        self.stride = stride
        self.mix = nn.Conv2d(6, 2, 1)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        a, b = (F.avg_pool2d(x, self.stride) for x in (image1, image2))
        return self.stride * self.mix(torch.cat([a, b - a], dim=1))


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**overrides) -> AVLAE:
    torch.manual_seed(0)
    cfg = AVLAEConfig(**{**TINY, **overrides})
    return AVLAE(cfg, StandInFlow() if cfg.motion_encoder else None)


def videos(n: int = 4, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 4, 16, 16, generator=gen) * 2 - 1


def snapshot(method: AVLAE) -> dict[str, list[torch.Tensor]]:
    """The parameters of the paper's networks by name."""
    return {
        name: [p.detach().clone() for p in net.parameters()]
        for name, net in method.networks.items()
    }


def moved(method: AVLAE, before: dict[str, list[torch.Tensor]]) -> set[str]:
    """The networks any of whose parameters changed since ``before``."""
    now = method.networks
    return {
        name
        for name, params in before.items()
        if any(
            not torch.equal(a, b)
            for a, b in zip(params, now[name].parameters(), strict=True)
        )
    }


# -- paper size ----------------------------------------------------------------


def fc(widths: list[int]) -> int:
    """Linear layers with biases between consecutive widths."""
    return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))


def generator_count(c_in: int, layers: list[tuple[int, int]], channels: int) -> int:
    """(1+2)D transposed convs (temporal k_t: c_in·w·k_t + w, spatial 4×4: w·w·16 + w,
    a BN of 2w after each), then the Conv3d k(1,3,3) to RGB."""
    total = 0
    for width, k_t in layers:
        total += c_in * width * k_t + width + 2 * width
        total += width * width * 16 + width + 2 * width
        c_in = width
    return total + c_in * channels * 9 + channels


def encoder2d_count(widths: list[int], out: int) -> int:
    """Conv2d k4 from 3 channels through ``widths``, then Conv2d k4 to ``out``."""
    chain = [3, *widths]
    convs = sum(16 * a * b + b for a, b in zip(chain, chain[1:], strict=False))
    return convs + 16 * widths[-1] * out + out


def encoder3d_count(c_in: int, widths: list[int], t_left: int, out: int) -> int:
    """(2+1)D layers (spatial c·w·16 + w, temporal w·w·3 + w), then the head:
    spatial 4×4 to the last width, temporal k(t_left) to ``out``."""
    total = 0
    for width in widths:
        total += c_in * width * 16 + width + width * width * 3 + width
        c_in = width
    return total + c_in * c_in * 16 + c_in + c_in * out * t_left + out


PAPER_SIZES = {
    # resolution: G's (width, k_t), the widths of E_A / D_V, of E_M*, D_V's and
    # E_M*'s frames left for the head (16 → 8 → … and 15 → 8 → …)
    128: (
        [(640, 2), (640, 4), (640, 4), (320, 4), (160, 3), (80, 3)],
        [64, 128, 256, 512, 512],
        [64, 128],
        1,
        4,
    ),
    64: (
        [(640, 2), (640, 4), (320, 4), (160, 4), (80, 3)],
        [64, 128, 256, 512],
        [64],
        1,
        8,
    ),
}


@pytest.mark.parametrize("resolution", [128, 64])
def test_paper_size_parameter_counts_match_the_layer_shapes(resolution: int) -> None:
    g_layers, widths, flow_widths, t_video, t_flow = PAPER_SIZES[resolution]
    with torch.device("meta"):
        method = AVLAE(AVLAEConfig(resolution=resolution), StandInFlow(8))
    nets = method.networks
    assert count(nets["F_A"]) == count(nets["F_M"]) == 5 * (128 * 128 + 128) == 82_560
    assert count(nets["D_I"]) == fc([128, 128, 128, 1]) == 33_153
    assert count(nets["G"]) == generator_count(256, g_layers, 3)
    assert count(nets["E_A"]) == encoder2d_count(widths, 128)
    assert count(nets["E_M"]) == encoder3d_count(2, flow_widths, t_flow, 128)
    features = encoder3d_count(3, widths, t_video, 128)
    assert count(nets["D_V"]) == features + fc([256, 128, 128, 1])
    assert count(nets["D_V"].fc) == 49_537
    assert method.nets.keys() == {"G", "E_A", "E_M", "D_I", "D_V"}
    if resolution == 128:  # F_A + F_M + G ≈ 25 M, as Sec. 5.3 says (module doc)
        assert round(count(method.nets["G"]) / 1e6, 1) == 26.6
        assert count(nets["G"]) == 26_443_923
    assert not any(p.requires_grad for p in method.flow.parameters())


@pytest.mark.parametrize("resolution", [128, 64])
def test_paper_size_shapes_on_the_meta_device(resolution: int) -> None:
    with torch.device("meta"):
        method = AVLAE(AVLAEConfig(resolution=resolution), StandInFlow(8))
    codes = method.codes(2)
    assert codes["z_A"].shape == codes["z_M"].shape == (2, 128)
    g = method.nets["G"]
    w_A, w_M = g.F_A(codes["z_A"]), g.F_M(codes["z_M"])
    assert w_A.shape == w_M.shape == (2, 128)
    video = method.generate(codes)
    assert video.shape == (2, 3, 16, resolution, resolution)
    side = resolution // 8
    assert method.flows(video).shape == (2, 2, 15, side, side)
    w_A_prime, w_M_prime = method.encode(video)
    assert w_A_prime.shape == w_M_prime.shape == (2, 128)
    assert method.nets["D_I"](w_A_prime).shape == (2,)
    assert method.nets["D_V"](video, w_M_prime).shape == (2,)


# -- codes, generator, encoders ------------------------------------------------


def test_codes_and_the_generator_side() -> None:
    method = small()
    assert method.appearance_code == "z_A" and method.motion_code == "z_M"
    codes = method.codes(3, torch.Generator().manual_seed(0))
    assert codes["z_A"].shape == codes["z_M"].shape == (3, 8)
    assert not torch.equal(codes["z_A"], codes["z_M"])  # independent draws
    g = method.nets["G"].eval()
    video = method.generate(codes)
    assert video.shape == (3, 3, 4, 16, 16) and video.abs().max() <= 1
    w_V = (g.F_A(codes["z_A"]), g.F_M(codes["z_M"]))  # x̂ = G(F_A(z_A), F_M(z_M))
    torch.testing.assert_close(video, g.G(*w_V))
    leaky = [m for m in g.F_A if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 4 and isinstance(g.F_A[-1], nn.Linear)  # between the 5


def test_w_every_level_feeds_w_v_to_each_level_after_the_first() -> None:
    method = small(w_every_level=True)
    G = method.nets["G"].G.eval()
    levels = list(G.net)[:-2]
    seen = []
    for level in levels:
        level.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    w_A, w_M = torch.randn(2, 8), torch.randn(2, 8)
    video = G(w_A, w_M)
    assert video.shape == (2, 3, 4, 16, 16)
    w_V = torch.cat([w_A, w_M], dim=1)
    assert seen[0].shape == (2, 16, 1, 1, 1)
    for x in seen[1:]:  # the level's input ends with w_V at every position
        tail = x[:, -16:]
        torch.testing.assert_close(tail, w_V[:, :, None, None, None].expand_as(tail))
    plain = small()  # the paper's G: w_V enters the first level only
    extra = sum(p.numel() for p in G.parameters()) - count(plain.nets["G"].G)
    assert extra > 0 and len(seen) == len(levels)


def stream_pass(switch: str) -> tuple[nn.Module, *tuple[torch.Tensor, ...]]:
    """G with the stream ``switch`` on, run in training mode on random w_A, w_M:
    (G, w_A, w_M, the last level's output, the to-RGB conv's input)."""
    G = small(**{switch: True}).nets["G"].G.train()
    levels = list(G.net)[:-2]
    assert len(getattr(G, switch)) == len(levels)
    outs: list[torch.Tensor] = []
    for level in levels:
        level.register_forward_hook(lambda _, __, out: outs.append(out))
    ins: list[torch.Tensor] = []
    G.net[-2].register_forward_pre_hook(lambda _, args: ins.append(args[0]))
    w_A, w_M = torch.randn(4, 8), torch.randn(4, 8)
    assert G(w_A, w_M).shape == (4, 3, 4, 16, 16)
    return G, w_A, w_M, outs[-1], ins[0]


def test_w_stream_adds_relu_bn_of_a_w_v_to_each_level_output() -> None:
    G, w_A, w_M, last, to_rgb_in = stream_pass("w_stream")
    w_V = torch.cat([w_A, w_M], dim=1)
    linear, bn, _ = G.w_stream[-1]
    a = linear(w_V)  # BN in training mode: the batch's own mean and variance
    bn_out = (a - a.mean(0)) / (a.var(0, unbiased=False) + bn.eps).sqrt()
    added = (bn_out * bn.weight + bn.bias).clamp(min=0)
    torch.testing.assert_close(to_rgb_in, last + added[:, :, None, None, None])
    plain = small()  # the paper's G: no stream
    extra = sum(p.numel() for p in G.parameters()) - count(plain.nets["G"].G)
    assert extra == sum(p.numel() for p in G.w_stream.parameters())


def test_code_stream_varies_from_clip_to_clip_when_the_codes_hardly_do() -> None:
    """BatchNorm over the batch alone: codes that differ 20 times less than they
    share still give features with unit variance over the batch before the ReLU
    (G's BatchNorm over batch, time and space lets them be equal)."""
    torch.manual_seed(0)
    stream = code_stream(16, 32).train()
    w = torch.randn(1, 16) + 0.05 * torch.randn(64, 16)
    pre_relu = stream[1](stream[0](w))
    torch.testing.assert_close(
        pre_relu.std(0, unbiased=False), torch.ones(32), atol=0.05, rtol=0
    )


def test_m_stream_adds_g3an_temporal_features_of_w_m_to_each_level() -> None:
    """F_T = w_M over one step, then per level ReLU(BN(ConvT1d(F_T))) with BatchNorm
    over batch and time, added constant over space (G3AN's F_V'' = F_V' + rep(F_T))."""
    G, w_A, w_M, last, to_rgb_in = stream_pass("m_stream")
    f_t = w_M[:, :, None]
    for stream in G.m_stream:
        conv, bn, _ = stream
        a = F.conv_transpose1d(f_t, conv.weight, conv.bias, conv.stride, conv.padding)
        mean = a.mean(dim=(0, 2), keepdim=True)
        var = a.var(dim=(0, 2), unbiased=False, keepdim=True)
        normed = (a - mean) / (var + bn.eps).sqrt()
        f_t = (normed * bn.weight[:, None] + bn.bias[:, None]).clamp(min=0)
    assert f_t.shape[2] == last.shape[2]
    torch.testing.assert_close(to_rgb_in, last + f_t[:, :, :, None, None])
    plain = small()  # the paper's G: no stream
    extra = sum(p.numel() for p in G.parameters()) - count(plain.nets["G"].G)
    assert extra == sum(p.numel() for p in G.m_stream.parameters())


def test_encode_and_reconstruct_follow_fig_5() -> None:
    """encode: E_A of one random frame and E_M of the clip; reconstruct: G of both."""
    method = small()
    clips = videos(2)
    with torch.no_grad():
        w_A, w_M = method.encode(clips, torch.Generator().manual_seed(3))
        frame = torch.rand(2, 4, generator=torch.Generator().manual_seed(3))
        index = frame.argsort(dim=1)[:, 0]  # sample_frames' draw
        by_hand = method.nets["E_A"](clips[torch.arange(2), :, index])
        torch.testing.assert_close(w_A, by_hand)
        torch.testing.assert_close(w_M, method.nets["E_M"](method.flows(clips)))
        out = method.reconstruct(clips, torch.Generator().manual_seed(3))
        torch.testing.assert_close(out, method.nets["G"].G(w_A, w_M))
    assert out.shape == clips.shape


# -- losses --------------------------------------------------------------------


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def logits_of(method: AVLAE) -> dict[str, list[list[float]]]:
    """Records every output of D_V and D_I, in call order."""
    seen: dict[str, list[list[float]]] = {"D_V": [], "D_I": []}
    for name in seen:
        method.nets[name].register_forward_hook(
            lambda _m, _i, out, name=name: seen[name].append(out.tolist())
        )
    return seen


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_step_i_ascends_eqs_8_and_9() -> None:
    """d = −(E[log D(real)] + E[log(1 − D(fake))]) for D_V (Eq. 8) and D_I (Eq. 9)."""
    method = small()
    seen = logits_of(method)
    losses = method.step_I(videos())
    for key, name in (("d_video", "D_V"), ("d_image", "D_I")):
        real, fake = seen[name]
        eq = mean([log_sigmoid(x) for x in real]) + mean(
            [log_sigmoid(-x) for x in fake]
        )
        assert losses[key].item() == pytest.approx(-eq, rel=1e-5)


@pytest.mark.parametrize("loss", ["minimax", "bce"])
def test_step_ii_descends_the_generator_side(loss: str) -> None:
    """minimax (Alg. 1 line 21): E[log(1 − D(x̂))]; bce: −E[log D(x̂)]."""
    method = small(loss=loss)
    seen = logits_of(method)
    losses = method.step_II(4)
    for key, name in (("g_video", "D_V"), ("g_image", "D_I")):
        (fake,) = seen[name]
        if loss == "minimax":
            expected = mean([log_sigmoid(-x) for x in fake])
        else:
            expected = -mean([log_sigmoid(x) for x in fake])
        assert losses[key].item() == pytest.approx(expected, rel=1e-5)


def test_latent_reconstruction_loss_is_k_times_the_mean_squared_difference() -> None:
    """K‖w − w'‖²₂ as ALAE computes it: averaged over dimensions and the batch."""
    w = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    w_prime = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    # squared differences 1, 4, 0 and 1, 1, 1: sum 8 over 6 entries
    assert latent_reconstruction_loss(w, w_prime, 1.0).item() == pytest.approx(8 / 6)
    assert latent_reconstruction_loss(w, w_prime, 0.5).item() == pytest.approx(4 / 6)


def test_step_iii_is_eq_10_with_k1_on_motion_and_k2_on_appearance() -> None:
    method = small(k1=0.5, k2=2.0)
    outputs: dict[str, torch.Tensor] = {}
    for name, net in method.networks.items():
        net.register_forward_hook(
            lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach())
        )
    losses = method.step_III(4)
    w_A, w_M = outputs["F_A"], outputs["F_M"]
    rec_m = 0.5 * (w_M - outputs["E_M"]).square().mean()
    rec_a = 2.0 * (w_A - outputs["E_A"]).square().mean()
    assert losses.keys() == {"rec_motion", "rec_appearance"}
    assert losses["rec_motion"].item() == pytest.approx(rec_m.item(), rel=1e-5)
    assert losses["rec_appearance"].item() == pytest.approx(rec_a.item(), rel=1e-5)


# -- Alg. 1 --------------------------------------------------------------------


def test_each_step_updates_exactly_the_networks_alg_1_names() -> None:
    """Step I: E_A, E_M*, D_I, D_V; Step II: F_A, F_M, G; Step III: E_A, E_M*, G.
    Step III follows Step II, whose gradients on F must not move F; the flow
    estimator never changes and never holds a gradient."""
    method = small()
    flow = [t.clone() for t in (*method.flow.parameters(), *method.flow.buffers())]
    before = snapshot(method)
    method.step_I(videos())
    assert moved(method, before) == {"E_A", "E_M", "D_I", "D_V"}
    before = snapshot(method)
    method.step_II(4)
    assert moved(method, before) == {"F_A", "F_M", "G"}
    before = snapshot(method)
    method.step_III(4)
    assert moved(method, before) == {"E_A", "E_M", "G"}
    after = [*method.flow.parameters(), *method.flow.buffers()]
    assert all(torch.equal(a, b) for a, b in zip(flow, after, strict=True))
    assert all(p.grad is None and not p.requires_grad for p in method.flow.parameters())
    assert not method.flow.training


def test_each_step_differentiates_only_the_networks_it_updates() -> None:
    """The gradients of Alg. 1 lines 12/14, 22 and 28: after each step (gradients
    cleared before it), exactly the networks it names hold one."""
    method = small()
    steps = [
        (lambda: method.step_I(videos()), {"E_A", "E_M", "D_I", "D_V"}),
        (lambda: method.step_II(4), {"F_A", "F_M", "G"}),
        (lambda: method.step_III(4), {"E_A", "E_M", "G"}),
    ]
    for run, names in steps:
        for net in method.networks.values():
            net.zero_grad(set_to_none=True)
        run()
        with_grad = {
            name
            for name, net in method.networks.items()
            if any(p.grad is not None for p in net.parameters())
        }
        assert with_grad == names


def test_one_optimiser_per_side_keeps_its_state_across_the_steps() -> None:
    """Adam steps per parameter after one iteration: E_A and E_M* twice (I, III),
    D_I and D_V once (I), G twice (II, III), F_A and F_M once (II)."""
    method = small()
    method.train_step({"video": videos()}, 0)
    state = {**method.opts["G"].state, **method.opts["E"].state}
    twice = {"E_A", "E_M", "G"}
    for name, net in method.networks.items():
        steps = {state[p]["step"].item() for p in net.parameters()}
        assert steps == {2.0 if name in twice else 1.0}, name
    assert method.opts.keys() == {"G", "E"}
    assert {id(p) for p in method.flow.parameters()}.isdisjoint(map(id, state))


def test_gradients_reach_g_through_the_frozen_flow_estimator() -> None:
    """With K2 = 0 the only path from G to Eq. (10) runs through the estimator."""
    method = small(k2=0.0)
    losses = method.step_III(4)
    assert losses.keys() == {"rec_motion"}
    grads = [p.grad for p in method.nets["G"].G.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in method.flow.parameters())


def test_ema_averages_the_whole_generator_side() -> None:
    method = small(ema_decay=0.5)
    ema = method.nets["G_ema"]
    start = [p.clone() for p in ema.parameters()]
    method.train_step({"video": videos()}, 0)
    for p0, p_ema, p in zip(
        start, ema.parameters(), method.nets["G"].parameters(), strict=True
    ):
        torch.testing.assert_close(p_ema, 0.5 * p0 + 0.5 * p)
    assert not torch.equal(start[0], ema.F_A[0].weight)  # F_A is averaged too
    out = sample(method, 2, seed=0)
    assert out.shape == (2, 3, 4, 16, 16) and out.abs().max() <= 1


def test_train_step_reports_every_loss() -> None:
    method = small()
    scalars = method.train_step({"video": videos()}, 0)
    names = {"d_video", "d_image", "g_video", "g_image", "rec_motion", "rec_appearance"}
    assert scalars.keys() == names
    assert all(math.isfinite(v) for v in scalars.values())


# -- Table 3 ablations ---------------------------------------------------------


@pytest.mark.parametrize(
    ("k1", "k2", "kept", "trained"),
    [
        (0.0, 1.0, {"rec_appearance"}, {"E_A", "G"}),
        (1.0, 0.0, {"rec_motion"}, {"E_M", "G"}),
        (0.0, 0.0, set(), set()),
    ],
)
def test_k_zero_removes_its_reconstruction_term(k1, k2, kept, trained) -> None:
    method = small(k1=k1, k2=k2)
    method.step_II(4)  # leaves gradients on F and G
    before = snapshot(method)
    assert method.step_III(4).keys() == kept
    assert moved(method, before) == trained


def test_without_the_motion_encoder_d_v_has_no_code_inputs() -> None:
    method = small(motion_encoder=False, k1=0.0)
    assert "E_M" not in method.nets and method.flow is None
    assert method.nets["D_V"].fc[0].in_features == 8  # conv features only
    assert small().nets["D_V"].fc[0].in_features == 16  # features + w'_M
    before = snapshot(method)
    scalars = method.train_step({"video": videos()}, 0)
    assert scalars.keys() == {"d_video", "d_image", "g_video", "g_image"} | {
        "rec_appearance"
    }
    assert moved(method, before) == set(method.networks)
    w_A, w_M = method.encode(videos(2))
    assert w_A.shape == (2, 8) and w_M is None
    with pytest.raises(ValueError, match="reconstruct needs E_M"):
        method.reconstruct(videos(2))


# -- registry, bad configs and inputs ------------------------------------------


def test_registered_as_avlae() -> None:
    assert method_classes("avlae") == (AVLAE, AVLAEConfig)
    assert small().config["model"] == "avlae"
    assert AVLAEConfig().loss == "minimax" and AVLAEConfig().flow == "raft_large"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(resolution=48), r"resolution must be a power of two >= 8 .*got 48"),
        (dict(resolution=4), r"resolution must be a power of two >= 8 .*got 4$"),
        (dict(frames=1), r"frames must be a power of two in \[2, 64\] .*got 1"),
        (dict(frames=12), r"frames must be .*one of 2, 4, 8, 16, 32, 64; got 12"),
        (dict(frames=128), r"frames must be a power of two in \[2, 64\]"),
        (dict(flow="pwc"), r"flow must be one of \('raft_large', 'raft_small', "),
        (dict(flow_steps=300), r"flow_steps .*got flow_steps=300 with flow='raft_l"),
        (dict(flow="shapes", flow_steps=0), r">= 1, got flow_steps=0 with flow="),
        (dict(loss="lsgan"), r"loss must be one of \('bce', 'hinge', 'wgan', 'mini"),
        (dict(k1=-1.0), r"k1 must be >= 0, got -1.0"),
        (dict(k2=-0.5), r"k2 must be >= 0, got -0.5"),
        (dict(motion_encoder=False), r"k1 must be 0 when motion_encoder is False"),
        (dict(ema_decay=1.0), r"ema_decay must be in \[0, 1\)"),
        (dict(ngf=0), r"ngf must be >= 1, got 0"),
        (dict(dim_w=0), r"dim_w must be >= 1, got 0"),
    ],
)
def test_bad_configs_name_the_field_and_the_allowed_values(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        AVLAEConfig(**overrides)


def test_bad_flow_estimators_are_refused() -> None:
    cfg = AVLAEConfig(**TINY)
    with pytest.raises(ValueError, match=r"needs a flow estimator: AVLAE\(cfg, flow\)"):
        AVLAE(cfg)
    with pytest.raises(
        ValueError, match=r"resolution must be divisible by the flow estimator's "
    ):
        AVLAE(cfg, StandInFlow(stride=3))
    with pytest.raises(ValueError, match="resolution .*stride 32 .*got 16"):
        AVLAE(cfg, StandInFlow(stride=32))
    with pytest.raises(ValueError, match="integer attribute stride >= 1"):
        AVLAE(cfg, nn.Identity())


def test_bad_clips_name_what_is_expected() -> None:
    method = small()
    with pytest.raises(ValueError, match=r"at least 2 frames .*got T = 1"):
        method.encode(videos()[:, :, :1])
    with pytest.raises(ValueError, match=r"expected clips .* = \(B, 3, 4, 16, 16\)"):
        method.encode(torch.zeros(2, 3, 4, 24, 24))
    with pytest.raises(ValueError, match=r"expected clips .* = \(B, 3, 4, 16, 16\)"):
        method.train_step({"video": torch.zeros(2, 3, 8, 16, 16)}, 0)


def test_build_resolves_the_embedded_estimator_for_the_records_clips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vidlib.shapes_flow

    asked = []

    def fake_load(
        resolution: int, *, frames: int, training: FlowTraining, progress: bool
    ) -> nn.Module:
        asked.append((resolution, frames, training))
        return StandInFlow()

    monkeypatch.setattr(vidlib.shapes_flow, "load_flow_estimator", fake_load)
    method = build({"name": "avlae", **TINY, "flow": "shapes"})
    build({"name": "avlae", **TINY, "flow": "shapes", "flow_steps": 300})
    assert asked == [(16, 4, FlowTraining()), (16, 4, FlowTraining(steps=300))]
    assert isinstance(method.flow, StandInFlow)
    assert not any(p.requires_grad for p in method.flow.parameters())


def test_build_loads_raft_from_the_records_weights_file(tmp_path) -> None:
    path = tmp_path / "raft_small.pth"
    torch.manual_seed(0)
    torch.save(raft("small").state_dict(), path)
    model = {"name": "avlae", **TINY, "resolution": 64, "flow": "raft_small"}
    method = build({**model, "flow_weights": str(path)})
    saved = torch.load(path, weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in method.flow.state_dict().items())
    with pytest.raises(ValueError, match=r"raft_small_C_T_V2-01064c6d\.pth"):
        build(model)  # no flow_weights: names the file it needs


def test_build_takes_given_resources_and_needs_none_without_e_m() -> None:
    given = StandInFlow()
    assert build({"name": "avlae", **TINY, "flow": "shapes"}, flow=given).flow is given
    method = build({"name": "avlae", **TINY, "motion_encoder": False, "k1": 0})
    assert method.flow is None and "E_M" not in method.nets


def test_lazy_r1_is_the_gradient_penalty_of_both_discriminators_on_real_clips() -> None:
    """Not in Alg. 1 (ALAE's R1, a cpu-profile switch): on a due step, γ/2·every ×
    (E‖∇_x D_V(x, E_M(x))‖² + E‖∇_x D_I(E_A(x_t))‖²), through the flow estimator."""
    method = small(r1_gamma=2.0, r1_every=3)
    nets, real = method.nets, videos()
    torch.manual_seed(5)
    method.codes(len(real))  # Step I draws the fake clips' codes first
    x = real.clone().requires_grad_(True)
    d_v = nets["D_V"](x, method.encode_motion(x))
    d_i = nets["D_I"](nets["E_A"](sample_frames(x)))
    (grad_v,) = torch.autograd.grad(d_v.sum(), x)
    (grad_i,) = torch.autograd.grad(d_i.sum(), x)
    penalty = sum(g.square().flatten(1).sum(1).mean() for g in (grad_v, grad_i))
    torch.manual_seed(5)
    losses = method.step_I(real, step=3)
    assert losses["d_r1"].item() == pytest.approx(3.0 * penalty.item(), rel=1e-4)
    assert "d_r1" not in method.step_I(real, step=4)
    assert "d_r1" not in small().step_I(real, step=3)


def test_an_untrained_build_gives_the_named_architecture_and_trains_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vidlib.shapes_flow
    from vidlib.flow.raft import RAFT
    from vidlib.flow.small import SmallFlow

    def no_training(*args, **kwargs):
        raise AssertionError("an untrained build must not load or train an estimator")

    monkeypatch.setattr(vidlib.shapes_flow, "load_flow_estimator", no_training)
    with torch.device("meta"):
        embedded = build({"name": "avlae", **TINY, "flow": "shapes"}, untrained=True)
        paper = build({"name": "avlae", **TINY, "resolution": 64}, untrained=True)
    assert isinstance(embedded.flow, SmallFlow)
    assert isinstance(paper.flow, RAFT) and paper.flow.cfg == raft("large").cfg
