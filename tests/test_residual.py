"""RJGAN, RMoCoGAN and the image baseline (vidlib/models/residual.py): sizes, Eq. (1)
by hand, the summary-frame path, the residual's dependencies, mixed data,
pre-training and bad configs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vidlib.data.mixed import MixedImagesVideos, collate_mixed
from vidlib.data.spec import DataConfig, open_data
from vidlib.experiment import load_start
from vidlib.method import build, eval_mode
from vidlib.models import residual
from vidlib.models.mocogan import MoCoGAN, MoCoGANConfig
from vidlib.models.residual import (
    RJGAN,
    ImageGAN,
    ImageGANConfig,
    RJGANConfig,
    RMoCoGAN,
    RMoCoGANConfig,
)

SIZES = dict(frames=4, resolution=16, ngf=4, ndf=4, video_temporal_padding=1)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def image_generator_params(dim_z: int) -> int:
    """G_I at 16×16, ngf 4: ConvT d→8 k4, BN 8, ConvT 8→4, BN 4, ConvT 4→3 (no bias)."""
    return dim_z * 8 * 16 + 2 * 8 + 8 * 4 * 16 + 2 * 4 + 4 * 3 * 16


def gru_params(d_in: int, d_h: int) -> int:
    """A GRUCell: three gates of W_ih, W_hh and two biases."""
    return 3 * d_h * (d_in + d_h + 2)


def test_parameter_counts_by_hand() -> None:
    rjgan = RJGAN(RJGANConfig(**SIZES, dim_z=5, dim_eps=2))
    assert count(rjgan.nets["G"].residual) == gru_params(2 + 5, 5)  # [ε, μ] → δ
    assert count(rjgan.nets["G"]) == gru_params(7, 5) + image_generator_params(5)
    d_i = 3 * 4 * 16 + 4 * 8 * 16 + 2 * 8 + 8 * 16 * 16 + 2 * 16 + 16 * 1 * 16
    assert count(rjgan.nets["D_I"]) == d_i
    # Conv3d k4 3→4, 4→8 + BN, head k(2,4,4) 8→1 (4 frames, temporal padding 1)
    assert count(rjgan.nets["D_V"]) == 3 * 4 * 64 + 4 * 8 * 64 + 2 * 8 + 8 * 32

    rmocogan = RMoCoGAN(RMoCoGANConfig(**SIZES, dim_z_content=4, dim_z_motion=3))
    mlp = (7 * 4 + 4) + (4 * 4 + 4)  # [z_C, z_M] → d_C → d_C
    g = gru_params(3, 3) + mlp + image_generator_params(4 + 3)
    assert count(rmocogan.nets["G"]) == g

    baseline = ImageGAN(ImageGANConfig(**SIZES, dim_z=5))
    assert sorted(baseline.nets) == ["D_I", "G"]
    assert count(baseline.nets["G"]) == image_generator_params(5)


def test_codes_follow_the_prior_with_sigma() -> None:
    gen = torch.Generator().manual_seed(0)
    codes = RJGAN(RJGANConfig(**SIZES, sigma=0.5)).codes(4000, gen)
    assert codes["mu"].shape == (4000, 60) and codes["eps"].shape == (4000, 4, 10)
    assert codes["mu"].std().item() == pytest.approx(0.5, rel=0.01)
    assert codes["eps"].std().item() == pytest.approx(1.0, rel=0.01)
    z_C = RMoCoGAN(RMoCoGANConfig(**SIZES, sigma=2.0)).codes(4000, gen)["z_C"]
    assert z_C.std().item() == pytest.approx(2.0, rel=0.01)


def test_zero_residuals_give_the_summary_frame_in_every_frame() -> None:
    """δ = 0 ⇒ z^(t) = μ ⇒ x^(t) = x̄ = G_I(μ). A GRU with zero weights keeps
    δ^(t) = (1 − u)·tanh(0) + u·δ^(t−1) = 0 from δ^(0) = 0."""
    torch.manual_seed(0)
    method = RJGAN(RJGANConfig(**SIZES, dim_z=6, dim_eps=3))
    codes = method.codes(3)
    with eval_mode(method), torch.no_grad():
        assert not torch.allclose(
            method.generate(codes)[:, :, 0], method.summary_frames(codes["mu"])
        )
        for p in method.nets["G"].residual.parameters():
            p.zero_()
        videos, summary = method.generate(codes), method.summary_frames(codes["mu"])
    assert summary.shape == (3, 3, 16, 16)
    for t in range(videos.shape[2]):
        torch.testing.assert_close(videos[:, :, t], summary, rtol=0, atol=1e-6)


def test_rjgan_residuals_depend_on_mu_and_the_past_noise_only() -> None:
    torch.manual_seed(0)
    g = RJGAN(RJGANConfig(**SIZES, dim_z=6, dim_eps=3)).nets["G"]
    mu, eps = torch.randn(2, 6), torch.randn(2, 4, 3)
    later = eps.clone()
    later[:, 2] += 1
    z, z_later = g.latents(mu, eps), g.latents(mu, later)
    assert torch.equal(z[:, :2], z_later[:, :2])  # δ^(1), δ^(2) do not see ε^(3)
    assert not torch.allclose(z[:, 2:], z_later[:, 2:])
    other_mu = g.latents(mu + 1, eps)
    assert not torch.allclose(other_mu - (mu + 1)[:, None], z - mu[:, None])  # δ | μ


def test_rmocogan_content_residual_depends_on_z_C_and_the_same_step_motion() -> None:
    """δ_C^(t) = f(z_C, z_M^(t)): motion follows MoCoGAN's R_M (independent of z_C);
    a content residual of zero gives MoCoGAN's latent [z_C, z_M^(t)]."""
    torch.manual_seed(0)
    g = RMoCoGAN(RMoCoGANConfig(**SIZES, dim_z_content=4, dim_z_motion=3)).nets["G"]
    z_C, eps = torch.randn(2, 4), torch.randn(2, 5, 3)
    z = g.latents(z_C, eps)
    z_M = g.motion(eps[:, 1:], eps[:, 0])
    assert torch.equal(z[:, :, 4:], z_M)
    assert torch.equal(g.latents(z_C + 1, eps)[:, :, 4:], z_M)  # motion ⊥ content
    delta_C = z[:, :, :4] - z_C[:, None]
    expected = g.residual(torch.cat([z_C[:, None].expand(-1, 4, -1), z_M], dim=2))
    torch.testing.assert_close(delta_C, expected)
    assert delta_C.abs().max() < 1  # tanh-bounded
    with torch.no_grad():
        g.residual[2].weight.zero_()
        g.residual[2].bias.zero_()
    torch.testing.assert_close(
        g.latents(z_C, eps)[:, :, :4], z_C[:, None].expand(-1, 4, -1)
    )


class MeanLogit(nn.Module):
    """A discriminator stub without BatchNorm: a linear map of the input's mean."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x.flatten(1).mean(1, keepdim=True)


def bce_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[−log D(real)] + E[−log(1 − D(fake))], D = sigmoid of the logit."""
    return (
        -torch.log(torch.sigmoid(real)).mean()
        - torch.log(1 - torch.sigmoid(fake)).mean()
    )


def bce_g(fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss E[−log D(fake)]."""
    return -torch.log(torch.sigmoid(fake)).mean()


@pytest.mark.parametrize("video_weight", [1.0, 0.25])
def test_rjgan_losses_are_eq1_by_hand(monkeypatch, video_weight) -> None:
    """D's terms of Eq. (1) on one update and G's on the next draw, recomputed with
    sigmoids and logs from the same codes (S_1 fixed to frame 0, D stubs without BN);
    λ_V (``video_weight``) scales G's D_V term only."""
    monkeypatch.setattr(residual, "sample_frames", lambda v, k=1: v[:, :, 0])
    torch.manual_seed(0)
    cfg = RJGANConfig(**SIZES, dim_z=5, dim_eps=2, video_weight=video_weight)
    method = RJGAN(cfg)
    method.nets["D_I"], method.nets["D_V"] = MeanLogit(3.0), MeanLogit(-2.0)
    for name in ("D_I", "D_V"):
        method.opts[name] = torch.optim.SGD(method.nets[name].parameters(), lr=0.5)
    g0 = copy.deepcopy(method.nets["G"])
    real = torch.rand(6, 3, 4, 16, 16) * 2 - 1

    torch.manual_seed(1)
    losses = method.train_step({"video": real}, step=0)
    torch.manual_seed(1)
    first, second = method.codes(6), method.codes(6)

    d_i, d_v = MeanLogit(3.0), MeanLogit(-2.0)
    with torch.no_grad():
        fake = g0(first["mu"], first["eps"])
        summary = g0.summary(first["mu"])
        assert losses["d_image"] == pytest.approx(
            bce_d(d_i(real[:, :, 0]), d_i(fake[:, :, 0])).item(), rel=1e-5
        )
        assert losses["d_summary"] == pytest.approx(
            bce_d(d_i(real[:, :, 0]), d_i(summary)).item(), rel=1e-5
        )
        assert losses["d_video"] == pytest.approx(
            bce_d(d_v(real), d_v(fake)).item(), rel=1e-5
        )
        d_i, d_v = method.nets["D_I"], method.nets["D_V"]  # after D's update
        fake = g0(second["mu"], second["eps"])
        assert losses["g_image"] == pytest.approx(
            bce_g(d_i(fake[:, :, 0])).item(), rel=1e-5
        )
        assert losses["g_summary"] == pytest.approx(
            bce_g(d_i(g0.summary(second["mu"]))).item(), rel=1e-5
        )
        assert losses["g_video"] == pytest.approx(
            video_weight * bce_g(d_v(fake)).item(), rel=1e-5
        )
    assert sorted(losses) == sorted(
        ["d_image", "d_summary", "d_video", "g_image", "g_summary", "g_video"]
    )


def test_summary_term_every_kth_update_and_not_in_rmocogan() -> None:
    torch.manual_seed(0)
    batch = {"video": torch.rand(2, 3, 4, 16, 16) * 2 - 1}
    method = RJGAN(RJGANConfig(**SIZES, dim_z=5, dim_eps=2, summary_every=3))
    with_summary = [("d_summary" in method.train_step(batch, s)) for s in range(4)]
    assert with_summary == [True, False, False, True]
    rmocogan = RMoCoGAN(RMoCoGANConfig(**SIZES, dim_z_content=4, dim_z_motion=3))
    assert sorted(rmocogan.train_step(batch, 0)) == [
        "d_image",
        "d_video",
        "g_image",
        "g_video",
    ]


def test_images_of_mixed_data_feed_only_d_i() -> None:
    torch.manual_seed(0)
    method = RJGAN(RJGANConfig(**SIZES, dim_z=5, dim_eps=2))
    image = {"video": torch.rand(3, 1, 16, 16), "is_image": 1, "frame": 0}
    video = {"video": torch.rand(3, 4, 16, 16), "is_image": 0, "frame": -1}
    d_v = copy.deepcopy(method.nets["D_V"].state_dict())
    d_i = copy.deepcopy(method.nets["D_I"].state_dict())
    losses = method.train_step(collate_mixed([image, image]), 0)
    assert "d_video" not in losses and "g_video" not in losses
    for key, value in method.nets["D_V"].state_dict().items():
        assert torch.equal(value, d_v[key]), key
    assert any(
        not torch.equal(v, d_i[k]) for k, v in method.nets["D_I"].state_dict().items()
    )
    seen: list[torch.Tensor] = []
    hook = method.nets["D_I"].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    other = {**image, "video": torch.zeros(3, 1, 16, 16)}
    assert "d_video" in method.train_step(collate_mixed([image, video, other]), 1)
    hook.remove()
    real = seen[0]  # D_I's first input: S_1 of the clip, then the images
    assert real.shape == (3, 3, 16, 16)
    assert torch.equal(real[1], image["video"][:, 0]) and torch.equal(
        real[2], other["video"][:, 0]
    )


def test_image_fraction_option_mixes_the_training_split() -> None:
    config = DataConfig(
        resolution=16, frames=4, size=200, options={"image_fraction": 0.5}
    )
    train = open_data(config, "train", seed=0)
    assert isinstance(train, MixedImagesVideos)
    images = sum(train[i]["is_image"] for i in range(len(train)))
    assert 70 < images < 130  # Binomial(200, 0.5): ±4.2 standard deviations
    assert train[0]["video"].shape[1] in (1, 4)
    assert not isinstance(open_data(config, "test", seed=0), MixedImagesVideos)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, "half", True])
def test_image_fraction_outside_zero_one_is_refused(fraction) -> None:
    with pytest.raises(ValueError, match="image_fraction"):
        DataConfig(options={"image_fraction": fraction})


def test_pretrained_image_gan_loads_into_rjgan() -> None:
    """Table 3's pre-training: G_I and D_I of the image baseline become RJGAN's; R_M
    and D_V keep their draw. RJGAN's summary frames then are the baseline's images."""
    torch.manual_seed(0)
    baseline = ImageGAN(ImageGANConfig(**SIZES, dim_z=5))
    rjgan = RJGAN(RJGANConfig(**SIZES, dim_z=5, dim_eps=2))
    residual_before = copy.deepcopy(rjgan.nets["G"].residual.state_dict())
    kept = load_start(rjgan, baseline)
    assert all(key.startswith("residual.") for key in kept["G"])
    assert kept["D_I"] == []
    for key, value in rjgan.nets["G"].residual.state_dict().items():
        assert torch.equal(value, residual_before[key])
    codes = rjgan.codes(4, torch.Generator().manual_seed(1))
    with eval_mode(rjgan), eval_mode(baseline), torch.no_grad():
        images = baseline.generate({"mu": codes["mu"]})[:, :, 0]
        torch.testing.assert_close(rjgan.summary_frames(codes["mu"]), images)
    with pytest.raises(ValueError, match="no place in ImageGAN"):
        load_start(baseline, rjgan)  # R_M has no place in the image GAN


def test_mocogan_never_feeds_g_i_its_image_prior() -> None:
    """Why MoCoGAN cannot take a G_I pre-trained on N(0, I) codes (Sec. 5.1): its
    frame latent is [z_C, z_M^(t)] with z_M^(t) a GRU state, a convex combination of
    h^(0) and tanh outputs in (−1, 1); once h^(0) is forgotten no motion entry
    leaves (−1, 1), where N(0, 1) puts 32% of its mass outside. RJGAN's summary frame
    G_I(μ) is G_I on its prior."""
    torch.manual_seed(0)
    sizes = dict(SIZES, frames=16)
    mocogan = MoCoGAN(MoCoGANConfig(dim_z_content=50, dim_z_motion=10, **sizes))
    codes = mocogan.codes(2000)
    with torch.no_grad():
        z_M = mocogan.nets["G"].motion(codes["eps"][:, 1:], codes["eps"][:, 0])
    assert z_M[:, -1].abs().max() < 1
    assert (codes["eps"].abs() > 1).float().mean() > 0.3
    mu = RJGAN(RJGANConfig(**SIZES)).codes(2000)["mu"]
    assert (mu.abs() > 1).float().mean() > 0.3


def test_bad_configs_name_the_field() -> None:
    with pytest.raises(ValueError, match="sigma"):
        RJGANConfig(sigma=0)
    with pytest.raises(ValueError, match="sigma"):
        RMoCoGANConfig(sigma=-1.0)
    with pytest.raises(ValueError, match="summary_every"):
        RJGANConfig(summary_every=0)
    with pytest.raises(ValueError, match="video_weight"):
        RMoCoGANConfig(video_weight=-0.5)
    with pytest.raises(ValueError, match="dim_z_motion"):
        RMoCoGANConfig(dim_z_motion=0)
    with pytest.raises(ValueError, match="resolution"):
        ImageGANConfig(resolution=24)


def test_models_build_from_a_record_section() -> None:
    for name in ("rjgan", "rmocogan", "image_gan"):
        method = build({"name": name, **SIZES})
        assert method.config["model"] == name
        with eval_mode(method), torch.no_grad():
            videos = method.generate(method.codes(2, torch.Generator().manual_seed(0)))
        frames = 1 if name == "image_gan" else 4
        assert videos.shape == (2, 3, frames, 16, 16)
        assert videos.abs().max() <= 1
