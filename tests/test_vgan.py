"""VGAN: paper-size counts, the two streams, the output options, the losses against
their equations, updates and bad configs (exact resume: tests/test_train.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlib.method import build, eval_mode, sample
from vidlib.models.vgan import VGAN, VGANConfig, mask_penalty


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**overrides) -> VGAN:
    """16×16×4 (L = 2 stride-2 layers, T0 = 1), tiny widths."""
    base = dict(dim_z=8, frames=4, resolution=16, ngf=4, ndf=4)
    torch.manual_seed(0)
    return VGAN(VGANConfig(**{**base, **overrides}))


def clips(b: int = 4, frames: int = 4, res: int = 16) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {"video": torch.rand(b, 3, frames, res, res, generator=gen) * 2 - 1}


def test_paper_size_parameter_counts_match_the_layer_shapes() -> None:
    """64×64×32, z 100, ngf = ndf = 64; every conv has a bias (reference §7)."""
    with torch.device("meta"):
        method = VGAN()
    g, d = method.nets["G"], method.nets["D"]
    widths = [512, 256, 128, 64]
    bn = 2 * sum(widths)
    background = 16 * (100 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64 * 3)
    background += sum(widths) + 3 + bn
    assert count(g.background) == background == 3_577_667
    foreground = 64 * (100 * 512 // 2 + 512 * 256 + 256 * 128 + 128 * 64)
    foreground += 64 * (64 * 3 + 64 * 1) + sum(widths) + 3 + 1 + bn
    assert count(g.foreground) == foreground == 12_667_716
    assert count(g) == background + foreground
    disc = 64 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512) + 32 * 512 * 2
    disc += sum(widths) + 2 + 2 * (128 + 256 + 512)
    assert count(d) == disc == 11_057_858
    rounded = (count(g.background), count(g.foreground), count(g), count(d))
    assert [round(n / 1e6, 1) for n in rounded[:3]] == [3.6, 12.7, 16.2]
    assert round(rounded[3] / 1e6, 2) == 11.06
    eps = {
        name: {m.eps for m in net.modules() if hasattr(m, "eps")}
        for name, net in method.nets.items()
    }
    assert eps == {"G": {1e-5}, "D": {1e-3}}  # VolumetricBatchNormalization(n, 1e-3)


def test_paper_size_shapes_on_the_meta_device() -> None:
    with torch.device("meta"):
        method = VGAN()
    codes = method.codes(2)
    assert codes["z"].shape == (2, 100)
    f, m, b = method.decompose(codes)
    assert (f.shape, m.shape, b.shape) == (
        (2, 3, 32, 64, 64),
        (2, 1, 32, 64, 64),
        (2, 3, 64, 64),
    )
    videos = method.generate(codes)
    assert videos.shape == (2, 3, 32, 64, 64)
    assert method.nets["D"](videos).shape == (2, 2)
    with torch.device("meta"):  # the cpu profile's Shapes clips: 32×32×8
        cpu = VGAN(VGANConfig(frames=8, resolution=32))
    videos = cpu.generate(cpu.codes(2))
    assert videos.shape == (2, 3, 8, 32, 32)
    assert cpu.nets["D"](videos).shape == (2, 2)


def test_official_init() -> None:
    """main.lua's weights_init: conv and ConvT weights ~ N(0, 0.01), biases 0, BN
    γ ~ N(1, 0.02), β = 0 (paper-size nets: large samples)."""
    method = VGAN()
    convs = [
        m
        for net in method.nets.values()
        for m in net.modules()
        if isinstance(m, torch.nn.modules.conv._ConvNd)
    ]
    assert len(convs) == 5 + 6 + 5
    weights = torch.cat([c.weight.detach().flatten() for c in convs])
    assert weights.mean().abs() < 1e-4
    assert weights.std().item() == pytest.approx(0.01, rel=0.01)
    assert all((c.bias == 0).all() for c in convs)
    bns = [
        m
        for net in method.nets.values()
        for m in net.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    gammas = torch.cat([bn.weight.detach() for bn in bns])
    assert gammas.mean().item() == pytest.approx(1.0, abs=5 * 0.02 / len(gammas) ** 0.5)
    assert gammas.std().item() == pytest.approx(0.02, rel=0.1)
    assert all((bn.bias == 0).all() for bn in bns)
    torch_init = small(init="torch").nets["G"].background.net[0]
    assert torch_init.bias.abs().sum() > 0


def test_streams_compose_with_the_mask_and_keep_their_ranges() -> None:
    method = small()
    with torch.no_grad():  # the init gives m ≈ 0.5, where m and 1 − m look alike
        method.nets["G"].foreground.mask[0].bias.fill_(1.5)
    codes = method.codes(3, torch.Generator().manual_seed(1))
    with eval_mode(method), torch.no_grad():
        f, m, b = streams = method.decompose(codes)
        videos = method.generate(codes)
    assert m.min() > 0.75
    assert (f.shape, m.shape, b.shape) == (
        (3, 3, 4, 16, 16),
        (3, 1, 4, 16, 16),
        (3, 3, 16, 16),
    )
    assert f.abs().max() <= 1 and b.abs().max() <= 1
    assert m.min() >= 0 and m.max() <= 1
    for t in range(4):  # G(z) = m ⊙ f + (1 − m) ⊙ b, the same b in every frame
        by_hand = m[:, :, t] * f[:, :, t] + (1 - m[:, :, t]) * b
        assert torch.allclose(videos[:, :, t], by_hand, atol=1e-6)
    assert torch.equal(videos, streams.video)
    assert videos.abs().max() <= 1


def test_output_options_pick_the_named_frames() -> None:
    """frame_stride s and output_frames n: frames 0, s, …, (n − 1)·s of the clip
    (e.g. the 16 of 32 frames that MoCoGAN's evaluation compares)."""
    method = small(frames=8, frame_stride=2, output_frames=3)
    codes = method.codes(2, torch.Generator().manual_seed(0))
    with eval_mode(method), torch.no_grad():
        full = method.decompose(codes).video
        cut = method.generate(codes)
    assert full.shape[2] == 8
    assert torch.equal(cut, full[:, :, [0, 2, 4]])
    assert sample(method, 2, seed=0).shape == (2, 3, 3, 16, 16)
    assert small(frames=8, frame_stride=2).generate(codes).shape[2] == 4
    assert VGANConfig(frame_stride=2, output_frames=16).output_frames == 16


def test_mask_penalty_is_lambda_times_the_mean_absolute_mask() -> None:
    """λ‖m‖₁ / N with N every mask value of the batch (nn.L1Penalty, sizeAverage)."""
    m = torch.zeros(2, 1, 4, 8, 8)
    m[0, 0, 1, 2, 3] = 1.0
    m[1, 0, 3] = 0.5  # 64 values
    by_hand = 0.1 * (1.0 + 64 * 0.5) / (2 * 4 * 8 * 8)
    assert mask_penalty(m, 0.1).item() == pytest.approx(by_hand)


def test_losses_are_the_two_logit_cross_entropy_and_the_mask_penalty() -> None:
    """D's loss is CE(D(x), real) + CE(D(G(z)), fake) on the 2 logits (real = class
    0), G's CE(D(G(z)), real) + λ‖m‖₁/N, as main.lua's CrossEntropyCriterion."""
    method = small(lambda_mask=0.3)
    outputs: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    method.nets["D"].register_forward_hook(
        lambda _m, _i, out: outputs.append(out.detach().clone())
    )
    method.nets["G"].foreground.mask.register_forward_hook(
        lambda _m, _i, out: masks.append(out.detach().clone())
    )
    scalars = method.train_step(clips(), 0)
    assert set(scalars) == {"d_video", "g_video", "g_mask"}
    real_out, fake_out, g_out = outputs  # D step: real, fake; G step: fake
    real, fake = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    d_by_hand = F.cross_entropy(real_out, real) + F.cross_entropy(fake_out, fake)
    assert scalars["d_video"] == pytest.approx(d_by_hand.item(), rel=1e-5)
    assert scalars["g_video"] == pytest.approx(
        F.cross_entropy(g_out, real).item(), rel=1e-5
    )
    m = masks[-1]  # the G step's mask
    assert scalars["g_mask"] == pytest.approx(
        0.3 * m.sum().item() / m.numel(), rel=1e-5
    )


def test_the_mask_penalty_reaches_only_the_foreground_stream() -> None:
    """Same seed, λ = 0 vs λ = 1: one step moves the foreground stream differently
    and leaves the background (which m does not depend on) and D identical."""
    runs = {lam: small(lambda_mask=lam) for lam in (0.0, 1.0)}
    for method in runs.values():
        torch.manual_seed(1)
        method.train_step(clips(), 0)
    free, penalised = (runs[lam].nets for lam in (0.0, 1.0))
    for a, b in zip(
        [*free["D"].parameters(), *free["G"].background.parameters()],
        [*penalised["D"].parameters(), *penalised["G"].background.parameters()],
        strict=True,
    ):
        assert torch.equal(a, b)
    mask_head = [m.nets["G"].foreground.mask[0].weight for m in runs.values()]
    assert not torch.equal(*mask_head)


def test_train_step_updates_every_network() -> None:
    method = small(ema_decay=0.5)
    before = {
        n: [p.clone() for p in net.parameters()] for n, net in method.nets.items()
    }
    scalars = method.train_step(clips(), 1)
    assert set(scalars) == {"d_video", "g_video", "g_mask"}
    assert all(torch.isfinite(torch.tensor(v)) for v in scalars.values())
    assert set(method.nets) == {"G", "G_ema", "D"}
    assert not any(p.requires_grad for p in method.nets["G_ema"].parameters())
    for name, net in method.nets.items():
        moved = any(
            not torch.equal(a, b)
            for a, b in zip(before[name], net.parameters(), strict=True)
        )
        assert moved, name


def test_lazy_r1_every_r1_every_steps() -> None:
    method = small(r1_gamma=0.1, r1_every=2)
    first, second = method.train_step(clips(), 0), method.train_step(clips(), 1)
    assert first["d_r1"] > 0 and "d_r1" not in second
    assert "d_r1" not in small().train_step(clips(), 0)


def test_registered_and_built_from_a_record() -> None:
    method = build(
        {"name": "vgan", "dim_z": 8, "frames": 4, "resolution": 16, "ngf": 4, "ndf": 4}
    )
    assert isinstance(method, VGAN)
    assert method.config["model"] == "vgan"
    assert method.appearance_code is None and method.motion_code is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(frames=12), r"frames must be a positive multiple of 16 at resolution 64"),
        (dict(frames=0), r"frames must be a positive multiple of 16 .* got 0"),
        (dict(resolution=48), r"resolution must be a power of two >= 8, got 48"),
        (dict(lambda_mask=-0.1), r"lambda_mask must be >= 0, got -0.1"),
        (
            dict(init="xavier"),
            r"init must be one of \('official', 'torch'\), got 'xavier'",
        ),
        (dict(frame_stride=0), r"frame_stride must be >= 1, got 0"),
        (dict(frame_stride=2, output_frames=17), r"output_frames must be in \[0, 16\]"),
        (dict(ema_decay=1.0), r"ema_decay must be in \[0, 1\)"),
        (dict(ngf=0), r"ngf must be >= 1, got 0"),
    ],
)
def test_bad_configs_name_the_field_and_the_allowed_values(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        VGANConfig(**fields)
