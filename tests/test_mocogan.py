"""MoCoGAN: shapes, paper-size parameter counts, the content/motion split, updates."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vidlib.method import sample
from vidlib.models.mocogan import MoCoGAN, MoCoGANConfig
from vidlib.nn import MotionGRU


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**overrides) -> MoCoGAN:
    base = dict(
        dim_z_content=6,
        dim_z_motion=4,
        frames=6,
        resolution=16,
        ngf=4,
        ndf=4,
        video_temporal_padding=1,
    )
    torch.manual_seed(0)
    return MoCoGAN(MoCoGANConfig(**{**base, **overrides}))


def test_paper_size_parameter_counts_match_the_layer_shapes() -> None:
    """64×64×16, d_C=50, d_M=10, ngf=ndf=64 (reference §2; bias-free convs)."""
    method = MoCoGAN(MoCoGANConfig(dim_z_category=6))
    gru = 3 * ((10 + 6) * 10 + 10 * 10 + 10 + 10)  # W_ih, W_hh, b_ih, b_hh for 3 gates
    g_convs = 16 * (60 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64 * 3)
    g_bn = 2 * (512 + 256 + 128 + 64)
    assert count(method.nets["G"]) == gru + g_convs + g_bn == 3_249_864
    d_i = 16 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 1) + 2 * (128 + 256)
    assert count(method.nets["D_I"]) == d_i == 663_296
    d_v = 64 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512 * 7) + 2 * (
        128 + 256 + 512
    )
    assert count(method.nets["D_V"]) == d_v == 11_253_504


def test_paper_size_shapes() -> None:
    method = MoCoGAN()
    videos = method.generate(method.codes(2, torch.Generator().manual_seed(0)))
    assert videos.shape == (2, 3, 16, 64, 64)
    assert videos.abs().max() <= 1
    assert method.nets["D_V"](videos).shape == (2, 1)
    assert method.nets["D_I"](videos[:, :, 0]).shape == (2, 1, 4, 4)


def test_any_length_and_fixed_content() -> None:
    method = small()
    codes = method.codes(3, torch.Generator().manual_seed(1), frames=11)
    assert method.generate(codes).shape == (3, 3, 11, 16, 16)
    # Same motion code, different content → different videos; same both → same video.
    other = dict(codes, z_C=torch.randn(3, 6))
    method.nets["G"].eval()
    assert not torch.allclose(method.generate(codes), method.generate(other))
    assert torch.equal(method.generate(codes), method.generate(codes))


def test_motion_generator_is_recurrent() -> None:
    torch.manual_seed(0)
    rm = MotionGRU(dim_eps=4, dim_hidden=4)
    eps = torch.randn(2, 6, 4)
    changed = eps.clone()
    changed[:, 2] += 1  # input at step k=2 (output index 1)
    z, z2 = rm(eps[:, 1:], eps[:, 0]), rm(changed[:, 1:], changed[:, 0])
    assert z.shape == (2, 5, 4)
    assert torch.equal(z[:, 0], z2[:, 0])  # the past is unaffected
    assert not torch.allclose(z[:, 1:], z2[:, 1:])  # the future carries the change
    assert torch.equal(
        z[:, 0], rm.cell(eps[:, 1], eps[:, 0])
    )  # h^(1) = GRU(ε^(1), h^(0))


def test_category_enters_the_gru_input() -> None:
    method = small(dim_z_category=3)
    assert method.nets["G"].motion.cell.input_size == 4 + 3
    codes = method.codes(2, torch.Generator().manual_seed(0))
    method.nets["G"].eval()
    a = method.generate(codes)
    b = method.generate(dict(codes, z_A=(codes["z_A"] + 1) % 3))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("loss", ["bce", "hinge"])
def test_train_step_updates_every_network(loss: str) -> None:
    method = small(dim_z_category=3, loss=loss, ema_decay=0.5)
    before = {
        n: [p.clone() for p in net.parameters()] for n, net in method.nets.items()
    }
    batch = {
        "video": torch.rand(4, 3, 6, 16, 16) * 2 - 1,
        "action": torch.tensor([0, 1, 2, 0]),
    }
    scalars = method.train_step(batch, 0)
    assert set(scalars) == {
        "d_image",
        "d_video",
        "g_image",
        "g_video",
        "d_info",
        "g_info",
    }
    assert all(torch.isfinite(torch.tensor(v)) for v in scalars.values())
    for name, net in method.nets.items():
        moved = any(
            not torch.equal(a, b)
            for a, b in zip(before[name], net.parameters(), strict=True)
        )
        assert moved, name


def test_category_head_of_d_learns_from_fake_codes_and_real_labels() -> None:
    """Pins the current behaviour (a listed deviation): D's InfoGAN term is the
    category cross-entropy of D_V's head on the fake clips' codes z_A *plus* on the
    real clips' labels; the official code trains the head on real labels only."""
    method = small(dim_z_category=3)
    drawn: list[dict] = []
    codes = method.codes
    method.codes = lambda n, *a, **k: drawn.append(codes(n, *a, **k)) or drawn[-1]
    outputs: list[torch.Tensor] = []
    method.nets["D_V"].register_forward_hook(
        lambda _m, _inputs, out: outputs.append(out.detach().clone())
    )
    labels = torch.tensor([0, 1, 2, 0])
    batch = {"video": torch.rand(4, 3, 6, 16, 16) * 2 - 1, "action": labels}
    scalars = method.train_step(batch, 0)
    real_out, fake_out = outputs[:2]  # the D step: D_V(real), then D_V(fake)
    on_real = F.cross_entropy(real_out[:, 1:], labels)
    on_fake = F.cross_entropy(fake_out[:, 1:], drawn[0]["z_A"])
    assert scalars["d_info"] == pytest.approx((on_real + on_fake).item(), rel=1e-5)
    assert abs(scalars["d_info"] - on_real.item()) > 1e-3

    # no real labels and no weight decay: only the fake codes reach the category rows
    unlabelled = small(dim_z_category=3, weight_decay=0.0)
    head = unlabelled.nets["D_V"].net[-1].weight
    before = head.detach().clone()
    scalars = unlabelled.train_step({"video": batch["video"]}, 0)
    assert scalars["d_info"] > 0 and not torch.equal(before[1:], head.detach()[1:])


def test_bad_configs_name_the_allowed_values() -> None:
    with pytest.raises(
        ValueError, match="resolution must be a power of two >= 16, got 48"
    ):
        MoCoGANConfig(resolution=48)
    with pytest.raises(ValueError, match=r"D_V needs frames >= 13 at resolution 64"):
        MoCoGANConfig(frames=8)
    with pytest.raises(ValueError, match="loss must be one of"):
        MoCoGANConfig(loss="lsgan")
    with pytest.raises(ValueError, match=r"ema_decay must be in \[0, 1\)"):
        MoCoGANConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match=r"image_upsample must be one of .*'bilinear'"):
        MoCoGANConfig(image_upsample="bilinear")


def test_nearest_upsampling_g_i_counts_and_computes_by_hand() -> None:
    """``image_upsample="nearest"``: each stride-2 ConvT k4 becomes nearest doubling
    and a 3×3 conv, so G_I's conv weights are 9/16 of the paper's past the first
    layer; its last layer equals F.interpolate then F.conv2d by hand."""
    method = MoCoGAN(MoCoGANConfig(image_upsample="nearest"))
    g_convs = 16 * 60 * 512 + 9 * (512 * 256 + 256 * 128 + 128 * 64 + 64 * 3)
    gru = 3 * (10 * 10 + 10 * 10 + 10 + 10)
    g_bn = 2 * (512 + 256 + 128 + 64)
    assert count(method.nets["G"]) == gru + g_convs + g_bn == 2_044_116
    assert count(method.nets["D_I"]) == 663_296  # D is unchanged
    net = small(image_upsample="nearest").nets["G"].image.net
    up, conv, tanh = net[-3:]
    x = torch.randn(2, conv.in_channels, 8, 8)
    by_hand = torch.tanh(
        F.conv2d(
            x.repeat_interleave(2, -1).repeat_interleave(2, -2), conv.weight, padding=1
        )
    )
    torch.testing.assert_close(tanh(conv(up(x))), by_hand)
    assert small(image_upsample="nearest").generate(
        small().codes(2, torch.Generator().manual_seed(0))
    ).shape == (2, 3, 6, 16, 16)


def test_sampling_re_estimates_the_ema_generators_batchnorm() -> None:
    method = small(ema_decay=0.5)
    batch = {"video": torch.rand(4, 3, 6, 16, 16) * 2 - 1}
    method.train_step(batch, 0)
    ema = method.nets["G_ema"]
    bn = ema.image.net[1]
    sample(method, 2, seed=0)
    batches, size, seed = method.calibration
    gen = torch.Generator().manual_seed(seed)
    means = []
    with torch.no_grad():
        for _ in range(batches):
            codes = method.codes(size, gen)
            z_M = ema.motion(codes["eps"][:, 1:], codes["eps"][:, 0])
            z = torch.cat([codes["z_C"][:, None].expand(-1, z_M.shape[1], -1), z_M], 2)
            first = ema.image.net[0](z.flatten(0, 1)[:, :, None, None])
            means.append(first.mean(dim=(0, 2, 3)))
    assert torch.allclose(bn.running_mean, torch.stack(means).mean(0), atol=1e-5)
    bn.running_mean.fill_(7.0)
    sample(method, 2, seed=1)  # weights unchanged: not estimated again
    assert torch.equal(bn.running_mean, torch.full_like(bn.running_mean, 7.0))
    method.train_step(batch, 1)  # the average moved: estimated again
    sample(method, 2, seed=0)
    assert not torch.equal(bn.running_mean, torch.full_like(bn.running_mean, 7.0))


def test_lazy_r1_every_r1_every_steps() -> None:
    method = small(r1_gamma=0.1, r1_every=2)
    batch = {"video": torch.rand(4, 3, 6, 16, 16) * 2 - 1}
    first, second = method.train_step(batch, 0), method.train_step(batch, 1)
    assert first["d_r1"] > 0 and "d_r1" not in second
    assert "d_r1" not in small().train_step(batch, 0)
