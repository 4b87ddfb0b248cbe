"""Shared blocks: F-SA against an independent computation, transposed conv shapes,
the frame sampler S_1."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vidlib.nn import (
    AxialSelfAttention,
    FactorisedSelfAttention,
    Transposed,
    ema_update,
    factorised_video_encoder,
    matched_width,
    recalibrate_batchnorm,
    sample_frames,
    strided_video_trunk,
    transposed_video_conv,
)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def identity_value(sa: AxialSelfAttention) -> None:
    channels = sa.value.weight.shape[0]
    with torch.no_grad():
        sa.value.weight.copy_(torch.eye(channels)[:, :, None, None, None])
        sa.value.bias.zero_()


@pytest.mark.parametrize("axis", ["time", "space"])
def test_identity_attention_returns_its_input(axis: str, monkeypatch) -> None:
    """β = I and W_v = I give o = x (reference §1.4: the official code fails)."""
    torch.manual_seed(0)
    sa = AxialSelfAttention(16, axis)
    identity_value(sa)

    def identity(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return torch.eye(q.shape[1]).expand(q.shape[0], -1, -1)

    monkeypatch.setattr(sa, "attention", identity)
    x = torch.randn(2, 16, 3, 4, 5)  # T, H, W all different: a wrong reshape shows
    assert torch.equal(sa.attend(x), x)
    with torch.no_grad():
        sa.gamma.fill_(1.0)
    assert torch.allclose(sa(x), 2 * x)


def reference_attention(sa: AxialSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """o computed position by position with loops (independent of the einops code)."""
    q, k, v = sa.query(x), sa.key(x), sa.value(x)
    out = torch.empty_like(x)
    b, _, t, h, w = x.shape
    for n in range(b):
        if sa.axis == "time":
            for i in range(h):
                for j in range(w):
                    beta = torch.softmax(q[n, :, :, i, j].T @ k[n, :, :, i, j], dim=1)
                    out[n, :, :, i, j] = v[n, :, :, i, j] @ beta.T
        else:
            for s in range(t):
                qs, ks = q[n, :, s].flatten(1), k[n, :, s].flatten(1)
                beta = torch.softmax(qs.T @ ks, dim=1)
                out[n, :, s] = (v[n, :, s].flatten(1) @ beta.T).view(-1, h, w)
    return out


@pytest.mark.parametrize("axis", ["time", "space"])
def test_attention_matches_a_loop_over_positions(axis: str) -> None:
    torch.manual_seed(1)
    sa = AxialSelfAttention(16, axis)
    x = torch.randn(2, 16, 3, 4, 5)
    with torch.no_grad():
        assert torch.allclose(sa.attend(x), reference_attention(sa, x), atol=1e-5)


def test_fsa_is_temporal_then_spatial_and_starts_as_identity() -> None:
    fsa = FactorisedSelfAttention(16)
    assert [m.axis for m in fsa] == ["time", "space"]
    x = torch.randn(1, 16, 2, 3, 3)
    assert torch.equal(fsa(x), x)  # γ = 0 at initialisation (SAGAN)
    # q, k: C → C/8 and v: C → C, weights and biases, plus γ, per branch
    per_branch = 2 * (16 * 2 + 2) + 16 * 16 + 16 + 1
    assert count(fsa) == 2 * per_branch


@pytest.mark.parametrize("conv", ["1+2d", "2+1d", "3d"])
def test_transposed_video_conv_shapes(conv: str) -> None:
    g = Transposed(k_t=4, k_s=4, s_t=2, s_s=2, p_t=1, p_s=1)
    block = transposed_video_conv(6, 5, g, conv)
    out = block(torch.randn(2, 6, 3, 4, 4))
    assert out.shape == (2, 5, g.out_t(3), g.out_s(4), g.out_s(4)) == (2, 5, 6, 8, 8)
    assert (out >= 0).all()  # ends with ReLU


@pytest.mark.parametrize("conv", ["1+2d", "2+1d"])
def test_matched_width_gives_the_3d_parameter_count(conv: str) -> None:
    g = Transposed(k_t=4, k_s=4, s_t=2, s_s=2, p_t=1, p_s=1)
    full = count(transposed_video_conv(256, 128, g, "3d"))
    mid = matched_width(256, 128, g, conv)
    factorised = count(transposed_video_conv(256, 128, g, conv, mid))
    assert abs(factorised - full) / full < 0.01


def test_unknown_conv_type_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"conv must be one of \('1\+2d', '2\+1d'"):
        transposed_video_conv(2, 2, Transposed(1, 1), "4d")
    with pytest.raises(ValueError, match="axis must be 'time' or 'space'"):
        AxialSelfAttention(8, "depth")


def test_ema_update_averages_parameters_and_leaves_bn_statistics() -> None:
    live, ema = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    with torch.no_grad():
        live.weight.fill_(3.0)
        live.running_mean.fill_(5.0)
    ema_update(ema, live, decay=0.75)
    assert torch.allclose(ema.weight, torch.full((2,), 0.75 * 1 + 0.25 * 3))
    assert torch.equal(ema.running_mean, torch.zeros(2))  # not the live statistics


def test_ema_update_copies_spectral_norm_vectors() -> None:
    live = spectral_norm(nn.Linear(3, 2))
    ema = spectral_norm(nn.Linear(3, 2))
    live(torch.randn(4, 3))  # one power iteration moves u
    ema_update(ema, live, decay=0.5)
    u = "parametrizations.weight.0._u"
    assert torch.equal(ema.get_buffer(u), live.get_buffer(u))


def test_recalibrate_batchnorm_averages_the_batch_statistics() -> None:
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    net[1].running_mean.fill_(9.0)
    batches = [torch.randn(5, 3) + i for i in range(3)]
    calls = iter(batches)
    recalibrate_batchnorm(net, lambda: net(next(calls)), 3)
    with torch.no_grad():
        hidden = [net[0](x) for x in batches]
    mean = torch.stack([h.mean(0) for h in hidden]).mean(0)
    var = torch.stack([h.var(0, unbiased=True) for h in hidden]).mean(0)
    assert torch.allclose(net[1].running_mean, mean, atol=1e-6)
    assert torch.allclose(net[1].running_var, var, atol=1e-6)
    assert net[1].momentum == 0.1 and not net.training


def test_sample_frames_takes_frames_of_each_clip() -> None:
    videos = torch.arange(2 * 5).float().view(2, 1, 5, 1, 1).expand(2, 1, 5, 2, 2)
    frames = sample_frames(videos, 1, torch.Generator().manual_seed(0))
    assert frames.shape == (2, 1, 2, 2)
    assert frames[0, 0, 0, 0].item() in range(5)
    assert frames[1, 0, 0, 0].item() in range(5, 10)
    three = sample_frames(videos, 3, torch.Generator().manual_seed(0))[:, 0, 0, 0]
    assert three.shape == (6,)
    assert len(set(three[:3].tolist())) == 3 and set(three[:3].tolist()) <= set(
        range(5)
    )
    assert set(three[3:].tolist()) <= set(range(5, 10))
    every = sample_frames(videos, 5)[:, 0, 0, 0]
    assert sorted(every.tolist()) == list(range(10))


def test_strided_video_trunk_halves_every_axis_and_counts_paper_parameters() -> None:
    trunk = strided_video_trunk(3, 64, 4)
    assert trunk(torch.zeros(2, 3, 16, 64, 64)).shape == (2, 512, 1, 4, 4)
    convs = 64 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512) + 64 + 128 + 256 + 512
    norms = 2 * (128 + 256 + 512)
    assert count(trunk) == convs + norms
    assert not isinstance(trunk[1], nn.BatchNorm3d)  # no BN on the first layer


def test_factorised_video_encoder_reads_the_whole_clip_into_one_vector() -> None:
    """Two layers: 16×16 → 4×4 and T 15 → 8 → 4; the head's kernels cover what is
    left (4×4, 4 frames), so every input value reaches the output."""
    encoder = factorised_video_encoder(2, [3, 5], frames=15, size=16, out=7)
    x = torch.randn(2, 2, 15, 16, 16, requires_grad=True)
    out = encoder(x)
    assert out.shape == (2, 7)
    assert encoder[-2].kernel_size == (4, 1, 1) and encoder[-4].kernel_size == (1, 4, 4)
    out[0].sum().backward()
    assert (x.grad[0] != 0).float().mean() > 0.9 and not x.grad[1].any()
    # spatial (c_in·w·16 + w) and temporal (w·w·3 + w) per layer; head 5→5, 5→7
    layers = (2 * 3 * 16 + 3 + 3 * 3 * 3 + 3) + (3 * 5 * 16 + 5 + 5 * 5 * 3 + 5)
    assert count(encoder) == layers + (5 * 5 * 16 + 5) + (5 * 7 * 4 + 7)
    bare = factorised_video_encoder(2, [], frames=7, size=4, out=6)  # no layer
    assert bare(torch.zeros(1, 2, 7, 4, 4)).shape == (1, 6)
    assert count(bare) == (2 * 6 * 16 + 6) + (6 * 6 * 7 + 6)
    with pytest.raises(ValueError, match="2 stride-2 layers need a size divisible"):
        factorised_video_encoder(2, [3, 5], frames=4, size=6, out=7)
