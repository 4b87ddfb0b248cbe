"""RJVAE (the residual-vector paper's VAE): parameter counts from the layer shapes,
shapes, each term of the ELBO (R3) against its closed form and a Monte-Carlo
estimate, the summary-frame path, the prior's sampling path, updates and bad configs
(exact resume: tests/test_train.py; the GANs of the paper: tests/test_residual.py).
The helpers shared with DSA's tests (clips, layer-shape counts of the shared frame
encoder/decoder, the Monte-Carlo checks) are tests/test_dsa.py's."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from tests.test_dsa import (
    check_train_steps_learn,
    clips,
    count,
    frame_decoder_count,
    frame_encoder_count,
    linear,
    lstm,
    tame_logvars,
    within,
)
from vidlib.method import build, eval_mode, method_classes, sample
from vidlib.models.residual import RJVAE, RJVAEConfig

TINY = dict(
    dim_z=5,
    frames=4,
    resolution=16,
    conv_width=4,
    fc_hidden=8,
    conv_dim=6,
    hidden=7,
)


def small(**overrides) -> RJVAE:
    torch.manual_seed(0)
    return RJVAE(RJVAEConfig(**{**TINY, **overrides}))


def expected_counts(
    c: int, res: int, w: int, fc: int, feat: int, h: int, d: int
) -> dict[str, int]:
    """DSA's frame encoder and decoder (tests/test_dsa.py), the decoder reading z(t)
    of size d; q(μ) as DSA's q(f); q(δ(t)) and the prior also read μ."""
    return {
        "frames": frame_encoder_count(c, res, w, fc, feat),
        "q_mu": 2 * lstm(feat, h) + 2 * linear(2 * h, d),
        "q_delta": linear(feat + d, h) + 2 * linear(h, d),
        "prior": lstm(2 * d, h) + 2 * linear(h, d),
        "decoder": frame_decoder_count(d, c, res, w, fc),
    }


def counts(method: RJVAE) -> dict[str, int]:
    e, g = method.nets["E"], method.nets["G"]
    parts = {"frames": e.frames, "q_mu": e.q_mu, "q_delta": e.q_delta}
    return {k: count(v) for k, v in (parts | dict(g.named_children())).items()}


def test_paper_size_parameter_count_matches_the_layer_shapes() -> None:
    """DSA's sizes with μ, δ of 288 = 256 + 32: the decoder is DSA's to the
    parameter (73,245,699)."""
    with torch.device("meta"):
        method = RJVAE()
    got = counts(method)
    assert got == expected_counts(3, 64, 256, 4096, 2048, 512, 288)
    assert got["decoder"] == 73_245_699
    total = count(method.nets["E"]) + count(method.nets["G"])
    assert total == sum(got.values()) == 168_803_267


def test_tiny_parameter_count_matches_the_layer_shapes() -> None:
    got = counts(small())
    assert got == expected_counts(3, 16, 4, 8, 6, 7, 5)
    # frames: convs 304 + 3·404, BN 32, FC 136 + 16 + 54 + 12; q_mu 2·420 + 2·75;
    # q_delta 84 + 2·40; prior 4·7·17 + 56 + 2·40; decoder 48 + 144 + 3·412 + 303
    assert got == {
        "frames": 1_766,
        "q_mu": 990,
        "q_delta": 164,
        "prior": 612,
        "decoder": 1_731,
    }


def test_nearest_decoder_keeps_the_parameters_and_computes_by_hand() -> None:
    """``decoder_upsample="nearest"``: each stride-2 ConvT k5 becomes nearest doubling
    and a 5×5 conv, which has the same parameters, so every count is the paper
    size's; a doubling layer equals F.interpolate then F.conv2d by hand."""
    with torch.device("meta"):
        method = RJVAE(RJVAEConfig(decoder_upsample="nearest"))
    assert counts(method) == expected_counts(3, 64, 256, 4096, 2048, 512, 288)
    net = small(decoder_upsample="nearest").nets["G"].decoder.convs
    assert not any(
        isinstance(m, torch.nn.ConvTranspose2d) and m.stride != (1, 1)
        for m in net.modules()
    )
    up, conv = net[0], net[1]
    x = torch.randn(2, conv.in_channels, 2, 2)
    by_hand = F.conv2d(
        x.repeat_interleave(2, -1).repeat_interleave(2, -2),
        conv.weight,
        conv.bias,
        padding=2,
    )
    torch.testing.assert_close(conv(up(x)), by_hand)
    model = small(decoder_upsample="nearest")
    with eval_mode(model), torch.no_grad():
        videos = model.generate(model.codes(2, torch.Generator().manual_seed(0)))
    assert videos.shape == (2, 3, 4, 16, 16)


def test_paper_size_shapes_on_the_meta_device() -> None:
    with torch.device("meta"):
        method = RJVAE()
        codes = method.codes(2)
        assert codes["mu"].shape == (2, 288)
        assert codes["eps"].shape == (2, 8, 288)
        assert method.generate(codes).shape == (2, 3, 8, 64, 64)
        assert method.summary_frames(codes["mu"]).shape == (2, 3, 64, 64)
        post = method.encode(torch.empty(2, 3, 8, 64, 64))
    assert [tuple(p.shape) for p in post] == [(2, 288)] * 3 + [(2, 8, 288)] * 2


def test_registered_and_samples_in_range() -> None:
    assert method_classes("rjvae") == (RJVAE, RJVAEConfig)
    torch.manual_seed(0)
    method = build({"name": "rjvae", **TINY, "sigma": 0.5})
    assert method.config == {"model": "rjvae", **vars(method.cfg)}
    videos = sample(method, 3, seed=1)
    assert videos.shape == (3, 3, 4, 16, 16)
    assert videos.abs().max() <= 1
    assert torch.equal(videos, sample(method, 3, seed=1))
    assert (method.appearance_code, method.motion_code) == (None, None)


def test_codes_draw_mu_from_the_prior_with_sigma() -> None:
    """μ ~ N(0, σ² I): the codes' μ is σ times the unit draw of the same seed."""
    a, b = small(sigma=1.0), small(sigma=0.25)
    gen = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    ca, cb = a.codes(500, gen()), b.codes(500, gen())
    torch.testing.assert_close(cb["mu"], 0.25 * ca["mu"])
    torch.testing.assert_close(cb["eps"], ca["eps"])
    assert cb["mu"].std().item() == pytest.approx(0.25, rel=0.05)


# --- the summary frame and the prior's paths -----------------------------------


def test_zero_residuals_make_every_frame_the_summary_frame() -> None:
    """δ(t) = 0 ⇒ z(t) = μ ⇒ x(t) = x̄ = decoder(μ) for every t (Sec. 4.1)."""
    method = small()
    mu = method.codes(3, torch.Generator().manual_seed(0))["mu"]
    with eval_mode(method), torch.no_grad():
        video = method.nets["G"].decode(mu, torch.zeros(3, 4, 5))
        summary = method.summary_frames(mu)
    for t in range(4):
        torch.testing.assert_close(video[:, :, t], summary)
    assert not torch.allclose(summary[0], summary[1])  # μ does matter


def prior_by_hand(
    method: RJVAE, mu: torch.Tensor, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """p(δ(t) | δ(<t), μ) step by step: the LSTMCell reads [μ ‖ 0], then [μ ‖ δ(1)],
    ..., [μ ‖ δ(T−1)]."""
    prior = method.nets["G"].prior
    state, prev, means, logvars = None, torch.zeros_like(mu), [], []
    for t in range(delta.shape[1]):
        state = prior.cell(torch.cat([mu, prev], dim=-1), state)
        means.append(prior.head.mean(state[0]))
        logvars.append(prior.head.logvar(state[0]))
        prev = delta[:, t]
    return torch.stack(means, 1), torch.stack(logvars, 1)


def test_prior_rollout_is_the_teacher_forced_prior_on_its_own_samples() -> None:
    """δ(t) = m(t) + s(t)·ε(t), (m, s) of p(δ(t) | δ(<t), μ) on the rollout's own
    past and μ; a different μ changes the residuals (the prior reads μ)."""
    method = small()
    g = method.nets["G"]
    codes = method.codes(2, torch.Generator().manual_seed(1))
    mu, eps = codes["mu"], codes["eps"]
    with torch.no_grad():
        delta = g.rollout(mu, eps)
        mean, logvar = prior_by_hand(method, mu, delta)
        torch.testing.assert_close(delta, mean + (0.5 * logvar).exp() * eps)
        torch.testing.assert_close(g.prior_params(mu, delta), (mean, logvar))
        assert not torch.allclose(g.rollout(mu + 1, eps), delta)
        torch.testing.assert_close(method.generate(codes), g.decode(mu, delta))


# --- the ELBO (R3) --------------------------------------------------------------


def sampled(method: RJVAE, video: torch.Tensor, noise: dict[str, torch.Tensor]):
    """The networks' outputs at the draw ``noise`` fixes, recomputed by hand."""
    e, g = method.nets["E"], method.nets["G"]
    post = e(video, noise["mu"])
    mu = post.mu_mean + (0.5 * post.mu_logvar).exp() * noise["mu"]
    delta = post.delta_mean + (0.5 * post.delta_logvar).exp() * noise["delta"]
    x_mean = g.decoder((mu[:, None] + delta).flatten(0, 1))
    x_mean = x_mean.unflatten(0, (len(mu), -1)).transpose(1, 2)
    return post, mu, delta, x_mean


def test_elbo_terms_match_their_closed_forms() -> None:
    """Each term of (R3) at fixed noise with torch.distributions: the reconstruction
    is Gaussian with σ_x² at decoder(μ + δ(t)); the summary KL is against
    N(0, σ² I) with σ = 0.5; the residual KL scores the posterior's δ(<t) and μ."""
    method = small(sigma=0.5)
    video = clips()
    gen = torch.Generator().manual_seed(5)
    noise = {
        "mu": torch.randn(3, 5, generator=gen),
        "delta": torch.randn(3, 4, 5, generator=gen),
    }
    with eval_mode(method), torch.no_grad():
        terms = method.elbo(video, noise)
        post, mu, delta, x_mean = sampled(method, video, noise)
        torch.testing.assert_close(post.mu, mu)
        p_mean, p_logvar = prior_by_hand(method, mu, delta)
    nll = -Normal(x_mean, math.sqrt(0.5)).log_prob(video).flatten(1).sum(1)
    q_mu = Normal(post.mu_mean, (0.5 * post.mu_logvar).exp())
    kl_mu = kl_divergence(q_mu, Normal(0.0, 0.5)).sum(1)
    q_delta = Normal(post.delta_mean, (0.5 * post.delta_logvar).exp())
    p_delta = Normal(p_mean, (0.5 * p_logvar).exp())
    kl_delta = kl_divergence(q_delta, p_delta).sum((1, 2))
    torch.testing.assert_close(terms.nll, nll, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(terms.kl_mu, kl_mu, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms.kl_delta, kl_delta, rtol=1e-5, atol=1e-5)
    expected = (nll + kl_mu + kl_delta).mean().item()
    assert terms.loss.item() == pytest.approx(expected, rel=1e-5)


def test_q_delta_reads_the_sampled_mu() -> None:
    """q(δ(t) | x(t), μ): another draw of μ changes q(δ)'s parameters, not q(μ)'s."""
    method = small()
    video = clips()
    with eval_mode(method), torch.no_grad():
        a = method.nets["E"](video, torch.zeros(3, 5))
        b = method.nets["E"](video, torch.ones(3, 5))
    torch.testing.assert_close(a.mu_mean, b.mu_mean)
    assert not torch.allclose(a.delta_mean, b.delta_mean)


def test_elbo_terms_match_their_monte_carlo_estimates() -> None:
    """Each KL of (R3) in closed form (σ = 0.5) against E_q[log q − log p] with the
    densities of (R1)/(R2) from torch.distributions, at the same K draws (common
    random numbers); so is the whole ELBO against the plain
    E_q[log p(x, μ, δ) − log q(μ, δ | x)], where the reconstructions coincide."""
    k = 4000
    method = tame_logvars(small(sigma=0.5))
    video = clips(1).expand(k, -1, -1, -1, -1)
    torch.manual_seed(7)
    noise = {"mu": torch.randn(k, 5), "delta": torch.randn(k, 4, 5)}
    with eval_mode(method), torch.no_grad():
        terms = method.elbo(video, noise)
        post, mu, delta, x_mean = sampled(method, video, noise)
        p_mean, p_logvar = prior_by_hand(method, mu, delta)
    log_px = Normal(x_mean, math.sqrt(0.5)).log_prob(video).flatten(1).sum(1)
    torch.testing.assert_close(-terms.nll, log_px)
    q_mu = Normal(post.mu_mean, (0.5 * post.mu_logvar).exp())
    mc_mu = q_mu.log_prob(mu).sum(1) - Normal(0.0, 0.5).log_prob(mu).sum(1)
    q_delta = Normal(post.delta_mean, (0.5 * post.delta_logvar).exp())
    p_delta = Normal(p_mean, (0.5 * p_logvar).exp())
    mc_delta = (q_delta.log_prob(delta) - p_delta.log_prob(delta)).sum((1, 2))
    within(terms.kl_mu, mc_mu, k)
    within(terms.kl_delta, mc_delta, k)
    within(-(terms.nll + terms.kl_mu + terms.kl_delta), log_px - mc_mu - mc_delta, k)
    assert (terms.kl_delta - mc_delta).std() > 0


def test_train_step_decreases_the_loss_on_a_tiny_batch() -> None:
    check_train_steps_learn(small(lr=3e-3), {"loss", "nll", "kl_mu", "kl_delta"})


def test_reconstruct_and_clip_checks() -> None:
    method = small()
    with eval_mode(method), torch.no_grad():
        assert method.reconstruct(clips(2)).shape == (2, 3, 4, 16, 16)
        post = method.encode(clips(2))
        torch.testing.assert_close(post.mu, post.mu_mean)  # encode: μ at q's mean
        with pytest.raises(ValueError, match="2 frames"):
            method.encode(clips(2, frames=1))
        with pytest.raises(ValueError, match="16, 16"):
            method.elbo(clips(2, res=8))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sigma", 0.0),
        ("sigma", -1.0),
        ("frames", 1),
        ("frames", 0),
        ("resolution", 20),
        ("dim_z", 0),
        ("hidden", 0),
        ("obs_var", 0.0),
        ("lr", 0.0),
        ("beta2", -0.1),
        ("decoder_upsample", "bilinear"),
    ],
)
def test_bad_configs_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RJVAEConfig(**{**TINY, field: value})
