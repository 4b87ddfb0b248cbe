"""G3AN: exact paper-size parameter counts, spectral norm, the official weight init,
the per-clip D_I frame, the three streams and their fusion, ablation switches, the
conditional variant, updates and bad configurations."""

from __future__ import annotations

import copy

import pytest
import torch
from einops import rearrange, repeat
from torch.nn.utils import parametrize

import vidlib.models.g3an as g3an_module
from vidlib.losses import r1_penalty
from vidlib.models.g3an import (
    G3AN,
    G3ANConfig,
    G3ANGenerator,
    ImageDiscriminator,
    VideoDiscriminator,
    level_widths,
)
from vidlib.nn import sample_frames


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**overrides) -> G3AN:
    """16×16×8 (N = 3 levels, T_m = 1, one temporal upsampling), narrow."""
    base = dict(
        dim_z_a=6,
        dim_z_m=3,
        frames=8,
        resolution=16,
        temporal_upsamples=1,
        ngf=2,
        ndf=4,
        fsa_position=1,
        video_temporal_padding=1,
    )
    torch.manual_seed(0)
    return G3AN(G3ANConfig(**{**base, **overrides}))


PAPER_COUNTS = {  # reference §1.3/§1.5, hand-computed from the layer shapes
    "G without F-SA": 22_925_955,
    "G with F-SA": 23_090_437,
    "D_V 3d (paper)": 11_056_065,
    "D_V 2+1d (official)": 8_347_009,
    "D_I": 2_764_737,
}


@pytest.mark.parametrize("sn", [True, False])
def test_paper_size_parameter_counts_are_exactly_the_reference(sn: bool) -> None:
    """Exact integers at 64×64×16 (spectral norm adds no parameters: on or off)."""
    switch = dict(spectral_norm_g=sn, spectral_norm_d=sn)
    with torch.device("meta"):
        no_fsa = G3ANGenerator(G3ANConfig(fsa_position=-1, **switch))
        counts = {
            "G without F-SA": count(no_fsa),
            "G with F-SA": count(G3ANGenerator(G3ANConfig(**switch))),
            "D_V 3d (paper)": count(VideoDiscriminator(G3ANConfig(**switch))),
            "D_V 2+1d (official)": count(
                VideoDiscriminator(G3ANConfig(video_discriminator="2+1d", **switch))
            ),
            "D_I": count(ImageDiscriminator(G3ANConfig(**switch))),
        }
    assert counts == PAPER_COUNTS
    # F-SA on F_V after G3_3 (256 channels): q, k 256→32, v 256→256, γ; T-SA + S-SA
    fsa = 2 * (2 * (256 * 32 + 32) + 256 * 256 + 256 + 1)
    assert counts["G with F-SA"] - counts["G without F-SA"] == fsa == 164_482


def convs(net: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {
        name: module
        for name, module in net.named_modules()
        if isinstance(module, torch.nn.modules.conv._ConvNd)
    }


def largest_singular_value(conv: torch.nn.Module) -> float:
    """σ_max of the weight as spectral norm sees it: output channels × the rest."""
    transposed = isinstance(conv, torch.nn.modules.conv._ConvTransposeNd)
    matrix = conv.weight.movedim(1 if transposed else 0, 0).flatten(1)
    return torch.linalg.matrix_norm(matrix, ord=2).item()


@pytest.mark.parametrize("kind", ["3d", "2+1d"])
def test_spectral_norm_is_on_every_conv_when_on_and_absent_when_off(kind: str) -> None:
    """On: every conv of G (but to-RGB, as the official code) and of both Ds is
    parametrised, and after power iterations its weight has σ_max ≈ 1. Off: none is."""
    method = small(video_discriminator=kind)
    unnormalised = {("G", "to_rgb")}  # official: to_rgb has no SN
    for name, net in method.nets.items():
        net.train()
        for conv_name, conv in convs(net).items():
            on = (name, conv_name) not in unnormalised
            assert parametrize.is_parametrized(conv, "weight") == on, (name, conv_name)
            if not on:
                continue
            with torch.no_grad():
                for _ in range(100):  # one power iteration per access in train mode
                    conv.weight  # noqa: B018
                conv.eval()
                sigma = largest_singular_value(conv)
            assert sigma == pytest.approx(1.0, rel=1e-2), (name, conv_name, sigma)
    off = small(video_discriminator=kind, spectral_norm_g=False, spectral_norm_d=False)
    for name, net in off.nets.items():
        assert convs(net), name
        for conv_name, conv in convs(net).items():
            assert not parametrize.is_parametrized(conv), (name, conv_name)
    g_only = small(video_discriminator=kind, spectral_norm_d=False)
    assert parametrize.is_parametrized(g_only.nets["G"].levels[0].video[0])
    assert not any(
        parametrize.is_parametrized(conv)
        for name in ("D_V", "D_I")
        for conv in convs(g_only.nets[name]).values()
    )


def mid_size(**overrides) -> G3AN:
    """A real 32×32×8 model wide enough for weight statistics (default init)."""
    base = dict(
        frames=8,
        resolution=32,
        temporal_upsamples=0,
        ngf=16,
        ndf=16,
        fsa_position=1,
        video_discriminator="2+1d",
        video_temporal_padding=1,
    )
    torch.manual_seed(0)
    return G3AN(G3ANConfig(**{**base, **overrides}))


def raw_weight(conv: torch.nn.Module) -> torch.Tensor:
    """The weight as drawn at init: under spectral norm, the unnormalised one."""
    if parametrize.is_parametrized(conv, "weight"):
        return conv.parametrizations.weight.original
    return conv.weight


def assert_normal(values: torch.Tensor, mean: float, std: float, what: str) -> None:
    """Sample mean and std of ``values`` match N(mean, std) (within 5 standard errors
    of the mean, 15 % of the std)."""
    n = values.numel()
    assert n >= 100, what
    assert abs(values.mean().item() - mean) < 5 * std / n**0.5, (what, values.mean())
    assert values.std().item() == pytest.approx(std, rel=0.15), (what, values.std())


@pytest.mark.parametrize("sn", [True, False])
def test_official_init_is_the_default(sn: bool) -> None:
    """The official code's init (reference §1.3): every non-transposed conv of D_V and
    D_I and of G (to-RGB, F-SA's q, k, v) ~ N(0, 0.02), each conv on its own; G's BN
    γ ~ N(1, 0.02), β = 0; G's transposed convs and all biases keep PyTorch's init,
    so they are exactly those of a construction without the init under the same
    seed."""
    assert G3ANConfig().init == "official"
    method = mid_size(spectral_norm_g=sn, spectral_norm_d=sn)
    g = method.nets["G"]
    drawn = {"G": [g.to_rgb, *[m for sa in g.fsa for m in (sa.query, sa.key)]]}
    drawn["G"] += [sa.value for sa in g.fsa]
    for name in ("D_V", "D_I"):
        drawn[name] = [
            c
            for c in convs(method.nets[name]).values()
            if raw_weight(c).numel() >= 100  # the 1-channel heads are too small
        ]
        assert len(drawn[name]) >= 4, name
    for name, modules in drawn.items():
        for i, conv in enumerate(modules):
            assert_normal(raw_weight(conv).detach().flatten(), 0.0, 0.02, (name, i))
    bns = [
        m for m in g.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    gammas = torch.cat([bn.weight.detach() for bn in bns])
    assert_normal(gammas, 1.0, 0.02, "G's BN γ")
    assert all((bn.bias == 0).all() for bn in bns)

    def no_init(net: torch.nn.Module) -> torch.nn.Module:
        return net

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(g3an_module, "normal_init", no_init)
        plain = mid_size(spectral_norm_g=sn, spectral_norm_d=sn).nets["G"]
    kept = [
        (name, c)
        for name, c in convs(plain).items()
        if isinstance(c, torch.nn.modules.conv._ConvTransposeNd)
    ]
    assert kept
    g_convs = convs(g)
    for name, conv in kept:
        assert torch.equal(raw_weight(g_convs[name]), raw_weight(conv)), name
        assert torch.equal(g_convs[name].bias, conv.bias), name


def test_torch_init_is_a_plain_construction() -> None:
    """``init="torch"`` gives, under the same seed, exactly the weights of a
    construction without the official init (what the cpu profile was tuned with)."""
    method = mid_size(init="torch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(g3an_module, "normal_init", lambda net: net)
        plain = mid_size()
    for name, net in plain.nets.items():
        ours = method.nets[name].state_dict()
        assert ours.keys() == net.state_dict().keys()
        for key, value in net.state_dict().items():
            assert torch.equal(ours[key], value), (name, key)
    bns = [m for m in method.nets["G"].modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert bns and all((bn.weight == 1).all() for bn in bns)
    with pytest.raises(
        ValueError, match=r"init must be one of \('official', 'torch'\)"
    ):
        G3ANConfig(init="xavier")


def test_image_discriminator_draws_a_frame_per_clip() -> None:
    """S_1 draws each clip's frame independently (Sec. 4.1), not one index for the
    whole batch as the official code: the frame indices differ within a batch, both
    from ``sample_frames`` and in what D_I sees during a training step."""
    b, t = 16, 8
    # frame t of every clip is the constant t (so a drawn frame names its index)
    videos = torch.arange(t, dtype=torch.float).view(1, 1, t, 1, 1)
    videos = videos.expand(b, 3, t, 4, 4)
    frames = sample_frames(videos, 1, torch.Generator().manual_seed(0))
    index = frames[:, 0, 0, 0].long()
    assert frames.shape == (b, 3, 4, 4) and len(index.unique()) > 1
    three = sample_frames(videos, 3, torch.Generator().manual_seed(0))
    per_clip = three[:, 0, 0, 0].long().view(b, 3)
    assert all(len(row.unique()) == 3 for row in per_clip)  # without replacement
    assert len(per_clip.unique(dim=0)) > 1

    method = small()
    seen: list[torch.Tensor] = []
    hook = method.nets["D_I"].register_forward_hook(
        lambda _module, inputs, _out: seen.append(inputs[0].detach().clone())
    )
    real = (torch.arange(8).float() / 7 * 2 - 1).view(1, 1, 8, 1, 1)
    torch.manual_seed(0)
    method.train_step({"video": real.expand(b, 3, 8, 16, 16).contiguous()}, 0)
    hook.remove()
    real_frames = seen[0]  # the first D_I call judges the real clips' frames
    index = ((real_frames[:, 0, 0, 0] + 1) / 2 * 7).round().long()
    assert real_frames.shape == (b, 3, 16, 16) and len(index.unique()) > 1


def test_paper_size_widths_and_shapes_on_the_meta_device() -> None:
    cfg = G3ANConfig(spectral_norm_g=False)
    assert level_widths(cfg) == [512, 512, 256, 128, 64]
    with torch.device("meta"):
        g = G3ANGenerator(cfg)
        video = g(torch.empty(2, 128), torch.empty(2, 10, 1))
        longer = g(torch.empty(2, 128), torch.empty(2, 10, 3))
    assert video.shape == (2, 3, 16, 64, 64)
    assert longer.shape == (2, 3, 24, 64, 64)  # T = 4·(T_m + 3): 16, 20, 24, ...
    assert g.fsa[0].value.in_channels == 256  # F_V after G3_3: 2·128 channels


def test_conv_types_have_matched_parameter_counts() -> None:
    """Table 4's three G_V convolutions, widths set to the 3-D conv's count."""
    with torch.device("meta"):
        counts = {
            conv: count(
                G3ANGenerator(
                    G3ANConfig(conv=conv, match_3d_params=True, spectral_norm_g=False)
                )
            )
            for conv in ("3d", "2+1d", "1+2d")
        }
    assert max(counts.values()) / min(counts.values()) < 1.001


def test_fusion_replicates_appearance_over_time_and_adds_motion_over_space() -> None:
    """Fig. 3: F_V = concat_C(replicate_T(F_S), F_V' + replicate_HW(F_T))."""
    method = small()
    level = method.nets["G"].levels[1].eval()
    f_s, f_t = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4)
    f_v = torch.randn(2, 16, 4, 4, 4)
    out_s, out_v, out_t = level(f_s, f_v, f_t)
    assert out_s.shape == (2, 4, 8, 8) and out_t.shape == (2, 4, 8)
    assert out_v.shape == (2, 8, 8, 8, 8)
    assert torch.equal(out_v[:, :4], repeat(out_s, "b c h w -> b c t h w", t=8))
    motion = out_v[:, 4:] - level.video(f_v)
    expected = repeat(out_t, "b c t -> b c t h w", h=8, w=8)
    assert torch.allclose(motion, expected, atol=1e-6)
    # G_S never sees motion and G_T never sees appearance
    again_s, _, again_t = level(f_s, torch.randn_like(f_v), torch.randn_like(f_t))
    assert torch.equal(again_s, out_s) and not torch.equal(again_t, out_t)
    assert torch.equal(level(torch.randn_like(f_s), f_v, f_t)[2], out_t)


def test_any_length_from_a_longer_motion_code() -> None:
    method = small()
    method.nets["G"].eval()
    codes = method.codes(2, torch.Generator().manual_seed(0), frames=16)
    assert codes["z_m"].shape == (2, 3, 5)
    assert method.generate(codes).shape == (2, 3, 16, 16, 16)


@pytest.mark.parametrize(
    ("switch", "expected_v_in"),
    [
        ({}, [9, 16, 8]),
        ({"spatial_stream": False}, [9, 8, 4]),
        ({"temporal_stream": False}, [9, 16, 8]),
        ({"spatial_stream": False, "temporal_stream": False}, [9, 8, 4]),
    ],
)
def test_stream_ablations(switch: dict, expected_v_in: list[int]) -> None:
    g = small(**switch).nets["G"]
    firsts = [level.video[0] for level in g.levels]
    assert [conv.in_channels for conv in firsts] == expected_v_in
    assert all((lv.spatial is None) == (not g.cfg.spatial_stream) for lv in g.levels)
    assert all((lv.temporal is None) == (not g.cfg.temporal_stream) for lv in g.levels)
    assert g(torch.randn(2, 6), torch.randn(2, 3, 1)).shape == (2, 3, 8, 16, 16)


def test_no_fsa_and_fsa_position() -> None:
    assert not hasattr(small(fsa_position=-1).nets["G"], "fsa")
    g = small(fsa_position=0).nets["G"]
    assert g.fsa[0].value.in_channels == 2 * level_widths(g.cfg)[0]


@pytest.mark.parametrize("kind", ["3d", "2+1d"])
def test_discriminators(kind: str) -> None:
    method = small(video_discriminator=kind, num_categories=4)
    videos = torch.randn(3, 3, 8, 16, 16)
    assert method.nets["D_V"](videos).shape == (3, 5)
    assert method.nets["D_I"](videos[:, :, 0]).shape == (3,)


def test_conditional_category_enters_only_the_temporal_stream() -> None:
    method = small(num_categories=4)
    g = method.nets["G"].eval()
    assert g.levels[0].temporal[0].in_channels == 3 + 4
    assert g.levels[0].spatial[0].in_channels == 6
    assert g.levels[0].video[0].in_channels == 6 + 3
    codes = method.codes(2, torch.Generator().manual_seed(0))
    other = dict(codes, category=(codes["category"] + 1) % 4)
    assert not torch.allclose(method.generate(codes), method.generate(other))


@pytest.mark.parametrize("loss", ["bce", "hinge"])
def test_train_step_updates_every_network(loss: str) -> None:
    method = small(num_categories=4, loss=loss, ema_decay=0.5, image_frames=2)
    before = {
        n: [p.clone() for p in net.parameters()] for n, net in method.nets.items()
    }
    batch = {
        "video": torch.rand(4, 3, 8, 16, 16) * 2 - 1,
        "action": torch.tensor([0, 1, 2, 3]),
    }
    scalars = method.train_step(batch, 0)
    assert set(scalars) == {
        "d_video",
        "d_image",
        "g_video",
        "g_image",
        "d_category",
        "g_category",
    }
    assert all(torch.isfinite(torch.tensor(v)) for v in scalars.values())
    for name, net in method.nets.items():
        moved = any(
            not torch.equal(a, b)
            for a, b in zip(before[name], net.parameters(), strict=True)
        )
        assert moved, name


def test_lazy_r1_is_the_penalty_of_both_discriminators_on_its_steps() -> None:
    # D_I judges all 8 frames, so the order sample_frames draws them in does not
    # change the summed logits; without SN the copies' forward passes are the step's
    method = small(r1_gamma=0.1, r1_every=2, image_frames=8, spectral_norm_d=False)
    real = torch.rand(4, 3, 8, 16, 16) * 2 - 1
    d_i, d_v = copy.deepcopy(method.nets["D_I"]), copy.deepcopy(method.nets["D_V"])
    x = real.clone().requires_grad_(True)
    frames = rearrange(x, "b c t h w -> (b t) c h w")
    expected = r1_penalty(d_i(frames), x) + r1_penalty(d_v(x)[:, 0], x)
    first = method.train_step({"video": real}, 0)
    assert first["d_r1"] == pytest.approx(0.1 / 2 * 2 * expected.item(), rel=1e-5)
    assert "d_r1" not in method.train_step({"video": real}, 1)
    assert "d_r1" not in small().train_step({"video": real}, 0)  # off by default


@pytest.mark.parametrize("crop", [0, 3])
def test_motion_crop_gives_every_frame_a_full_window_of_z_m(crop: int) -> None:
    """G3_0's kernel spans 4 steps of z_m; without F-SA and with BN in eval mode, frame
    t depends only on the steps that window covers. Cropping 3 frames at each end
    (T_m = frames + 3) leaves every frame a full window; without it, the end frames
    see 1 step (the fade at the clip ends of the cpu runs)."""
    method = small(frames=8, temporal_upsamples=0, fsa_position=-1, motion_crop=crop)
    generator = method.nets["G"].eval()
    codes = method.codes(1)
    assert codes["z_m"].shape[2] == 8 - 3 + 2 * crop
    z_m = codes["z_m"].requires_grad_(True)
    video = generator(codes["z_a"], z_m)
    assert video.shape[2] == 8
    seen = []
    for t in range(8):
        (grad,) = torch.autograd.grad(video[:, :, t].sum(), z_m, retain_graph=True)
        seen.append(int((grad.abs().sum(dim=(0, 1)) > 0).sum()))
    assert seen == ([4] * 8 if crop == 3 else [1, 2, 3, 4, 4, 3, 2, 1])


def test_bad_configs_name_the_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"frames must be \(T_m \+ 3\)·4 .* one of 16"):
        G3ANConfig(frames=18)
    with pytest.raises(ValueError, match=r"fsa_position must be -1 .* 0\.\.4"):
        G3ANConfig(fsa_position=5)
    with pytest.raises(ValueError, match=r"conv must be one of \('1\+2d'"):
        G3ANConfig(conv="4d")
    with pytest.raises(ValueError, match=r"resolution must be .* 8, 16, 32, 64"):
        G3ANConfig(resolution=48)
    with pytest.raises(ValueError, match=r"temporal_upsamples must be in 0\.\.4"):
        G3ANConfig(temporal_upsamples=5)
    with pytest.raises(ValueError, match=r"motion_crop must be in 0\.\.3"):
        G3ANConfig(motion_crop=4)
    with pytest.raises(
        ValueError, match=r"frames must be \(T_m − 3\)·4 .* one of 4, 8,"
    ):
        G3ANConfig(frames=6, motion_crop=3)
    with pytest.raises(ValueError, match=r"video_discriminator must be one of"):
        G3ANConfig(video_discriminator="2d")
    with pytest.raises(ValueError, match=r"D_V needs frames >= 13"):
        G3ANConfig(frames=12, temporal_upsamples=1)
    with pytest.raises(ValueError, match="num_categories > 0 needs temporal_stream"):
        G3ANConfig(num_categories=3, temporal_stream=False)
    method = small()
    with pytest.raises(ValueError, match=r"z_m must be \(B, dim_z_m=3, T_m >= 1\)"):
        method.generate({"z_a": torch.randn(1, 6), "z_m": torch.randn(1, 3)})
    with pytest.raises(ValueError, match=r"frames must be \(T_m \+ 3\)·2"):
        method.codes(1, frames=9)
