"""DSA (factorised): parameter counts from the layer shapes, shapes, each ELBO term
against its closed form and a Monte-Carlo estimate, the prior's sampling path,
updates and bad configs (exact resume: tests/test_train.py)."""

from __future__ import annotations

import math
from typing import TypeVar

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vidlib.losses import (
    diag_gaussian_log_density,
    gaussian_log_likelihood,
    kl_diag_gaussians,
    kl_to_isotropic,
)
from vidlib.method import VAEMethod, build, eval_mode, method_classes, sample
from vidlib.models.dsa import DSA, DSAConfig
from vidlib.nn import GaussianHead

M = TypeVar("M", bound=VAEMethod)

TINY = dict(
    dim_f=5,
    dim_z=3,
    frames=4,
    resolution=16,
    conv_width=4,
    fc_hidden=8,
    conv_dim=6,
    hidden=7,
)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**overrides) -> DSA:
    torch.manual_seed(0)
    return DSA(DSAConfig(**{**TINY, **overrides}))


def clips(b: int = 3, frames: int = 4, res: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, frames, res, res, generator=gen) * 2 - 1


# layer shapes -> parameters (weights + biases; BN: γ and β)
def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def lstm(n_in: int, h: int) -> int:
    """One direction of nn.LSTM or an nn.LSTMCell: 4 gates, two biases each."""
    return 4 * h * (n_in + h) + 2 * 4 * h


def frame_encoder_count(c: int, res: int, w: int, fc: int, feat: int) -> int:
    """vidlib.nn.FrameEncoder (DSA's and RJVAE's): 4 convs k5 with BN, two Linears
    with BN."""
    side = res // 8
    encoder = conv(c, w, 5) + 3 * conv(w, w, 5) + 4 * 2 * w
    return encoder + linear(w * side**2, fc) + 2 * fc + linear(fc, feat) + 2 * feat


def frame_decoder_count(d: int, c: int, res: int, w: int, fc: int) -> int:
    """vidlib.nn.FrameDecoder (DSA's and RJVAE's) from latents of size ``d``: two
    Linears, 3 transposed convs k5 with BN, the last one to C."""
    side = res // 8
    decoder = linear(d, fc) + linear(fc, w * side**2)
    return decoder + 3 * (conv(w, w, 5) + 2 * w) + conv(w, c, 5)


def expected_counts(
    c: int, res: int, w: int, fc: int, feat: int, h: int, d_f: int, d_z: int
) -> dict[str, int]:
    return {
        "frames": frame_encoder_count(c, res, w, fc, feat),
        "q_f": 2 * lstm(feat, h) + 2 * linear(2 * h, d_f),
        "q_z": linear(feat, h) + 2 * linear(h, d_z),
        "prior": lstm(d_z, h) + 2 * linear(h, d_z),
        "decoder": frame_decoder_count(d_f + d_z, c, res, w, fc),
    }


def test_paper_size_parameter_count_matches_the_layer_shapes() -> None:
    """64×64, f 256, z 32, hidden 512, convs 256, FC 4096 → 2048: ≈167 M as the
    re-implementation counts (reference §6.1)."""
    with torch.device("meta"):
        method = DSA()
    e, g = method.nets["E"], method.nets["G"]
    got = {
        "frames": count(e.frames),
        "q_f": count(e.q_f),
        "q_z": count(e.q_z),
        "prior": count(g.prior),
        "decoder": count(g.decoder),
    }
    assert got == expected_counts(3, 64, 256, 4096, 2048, 512, 256, 32)
    assert count(e) + count(g) == sum(got.values()) == 166_950_787


def test_tiny_parameter_count_matches_the_layer_shapes() -> None:
    method = small()
    e, g = method.nets["E"], method.nets["G"]
    expected = expected_counts(3, 16, 4, 8, 6, 7, 5, 3)
    assert count(e) == expected["frames"] + expected["q_f"] + expected["q_z"]
    assert count(g) == expected["prior"] + expected["decoder"]
    # E: convs 304 + 3·404, BN 32, FC 136 + 16 + 54 + 12; q_f 2·420 + 2·75; q_z
    # 49 + 2·24. G: prior 336 + 2·24; decoder 72 + 144 + 3·(404 + 8) + 303
    assert (count(e), count(g)) == (2_853, 2_139)


def test_paper_size_shapes_on_the_meta_device() -> None:
    with torch.device("meta"):
        method = DSA()
        codes = method.codes(2)
        assert codes["f"].shape == (2, 256)
        assert codes["eps"].shape == (2, 8, 32)
        assert method.generate(codes).shape == (2, 3, 8, 64, 64)
        post = method.encode(torch.empty(2, 3, 8, 64, 64))
    assert [tuple(p.shape) for p in post] == [(2, 256)] * 2 + [(2, 8, 32)] * 2


def test_registered_and_samples_in_range() -> None:
    assert method_classes("dsa") == (DSA, DSAConfig)
    torch.manual_seed(0)
    method = build({"name": "dsa", **TINY})
    assert method.config == {"model": "dsa", **vars(method.cfg)}
    videos = sample(method, 3, seed=1)
    assert videos.shape == (3, 3, 4, 16, 16)
    assert videos.abs().max() <= 1
    assert torch.equal(videos, sample(method, 3, seed=1))
    codes = method.codes(2, torch.Generator().manual_seed(0))
    assert {method.appearance_code, method.motion_code} <= set(codes)


# --- the shared ELBO pieces (vidlib.losses) -----------------------------------


def random_gaussians(d: int = 4) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(3)
    m_q, m_p = torch.randn(2, d, generator=gen, dtype=torch.float64)
    lv_q, lv_p = torch.randn(2, d, generator=gen, dtype=torch.float64) * 0.5
    return m_q, lv_q, m_p, lv_p


def mc_kl(
    m_q: torch.Tensor, lv_q: torch.Tensor, m_p: torch.Tensor, lv_p: torch.Tensor
) -> tuple[float, float]:
    """Monte-Carlo KL(q ‖ p) = E_q[log q − log p] with N draws, torch.distributions'
    densities; returns the estimate and its standard error."""
    n = 200_000
    q, p = Normal(m_q, (0.5 * lv_q).exp()), Normal(m_p, (0.5 * lv_p).exp())
    x = q.sample((n,))
    ratio = (q.log_prob(x) - p.log_prob(x)).sum(-1)
    return ratio.mean().item(), ratio.std().item() / math.sqrt(n)


def test_kl_of_diagonal_gaussians_closed_form_and_monte_carlo() -> None:
    """Closed form against torch.distributions; against the MC average of
    log q − log p within 5 standard errors (a false alarm every ~1.7 M runs; the
    seed is fixed, so the test is deterministic anyway)."""
    m_q, lv_q, m_p, lv_p = random_gaussians()
    closed = kl_diag_gaussians(m_q, lv_q, m_p, lv_p)
    reference = kl_divergence(
        Normal(m_q, (0.5 * lv_q).exp()), Normal(m_p, (0.5 * lv_p).exp())
    ).sum()
    assert closed.item() == pytest.approx(reference.item(), rel=1e-6)
    torch.manual_seed(0)
    estimate, stderr = mc_kl(m_q, lv_q, m_p, lv_p)
    assert abs(closed.item() - estimate) < 5 * stderr
    assert kl_diag_gaussians(m_q, lv_q, m_q, lv_q).item() == pytest.approx(0, abs=1e-6)


def test_kl_to_the_standard_normal_prior() -> None:
    """DSA's p(f) = N(0, I): σ = 1, and σ ≤ 0 is refused naming sigma."""
    m_q, lv_q, _, _ = random_gaussians()
    zero = torch.zeros_like(m_q)
    closed = kl_to_isotropic(m_q, lv_q)
    assert closed.item() == pytest.approx(
        kl_diag_gaussians(m_q, lv_q, zero, zero).item(), rel=1e-6
    )
    torch.manual_seed(1)
    estimate, stderr = mc_kl(m_q, lv_q, zero, zero)
    assert abs(closed.item() - estimate) < 5 * stderr
    with pytest.raises(ValueError, match="sigma"):
        kl_to_isotropic(m_q, lv_q, sigma=0.0)


def test_gaussian_log_likelihood_and_log_density() -> None:
    """Against torch.distributions; with var ½, −log p = SSE + ½ N log π."""
    x, mean = clips(2), clips(2, seed=1)
    ours = gaussian_log_likelihood(x, mean, 0.5)
    theirs = Normal(mean, math.sqrt(0.5)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-2)
    sse = (x - mean).square().flatten(1).sum(1)
    n = x[0].numel()
    torch.testing.assert_close(-ours, sse + 0.5 * n * math.log(math.pi))
    with pytest.raises(ValueError, match="var"):
        gaussian_log_likelihood(x, mean, 0.0)
    m_q, lv_q, m_p, _ = random_gaussians()
    density = diag_gaussian_log_density(m_p, m_q, lv_q)
    expected = Normal(m_q, (0.5 * lv_q).exp()).log_prob(m_p).sum()
    assert density.item() == pytest.approx(expected.item(), rel=1e-6)


# --- DSA's ELBO (D3) ----------------------------------------------------------


def prior_by_hand(method: DSA, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """p(z(t) | z(<t)) step by step: the LSTMCell reads 0, then the posterior's
    z(1), ..., z(T−1)."""
    prior = method.nets["G"].prior
    state, prev, means, logvars = None, torch.zeros_like(z[:, 0]), [], []
    for t in range(z.shape[1]):
        state = prior.cell(prev, state)
        means.append(prior.head.mean(state[0]))
        logvars.append(prior.head.logvar(state[0]))
        prev = z[:, t]
    return torch.stack(means, 1), torch.stack(logvars, 1)


def test_elbo_terms_match_their_closed_forms() -> None:
    """Each term of (D3) at fixed noise, recomputed from the networks' outputs with
    torch.distributions; the dynamic KL scores the *posterior's* z(<t)."""
    method, video = small(), clips()
    gen = torch.Generator().manual_seed(5)
    noise = {
        "f": torch.randn(3, 5, generator=gen),
        "z": torch.randn(3, 4, 3, generator=gen),
    }
    with eval_mode(method), torch.no_grad():
        terms = method.elbo(video, noise)
        post = method.nets["E"](video)
        f = post.f_mean + (0.5 * post.f_logvar).exp() * noise["f"]
        z = post.z_mean + (0.5 * post.z_logvar).exp() * noise["z"]
        mean = method.nets["G"].decode(f, z)
        p_mean, p_logvar = prior_by_hand(method, z)
    nll = -Normal(mean, math.sqrt(0.5)).log_prob(video).flatten(1).sum(1)
    std = (0.5 * post.f_logvar).exp()
    kl_f = kl_divergence(Normal(post.f_mean, std), Normal(0.0, 1.0)).sum(1)
    q_z = Normal(post.z_mean, (0.5 * post.z_logvar).exp())
    p_z = Normal(p_mean, (0.5 * p_logvar).exp())
    kl_z = kl_divergence(q_z, p_z).sum((1, 2))
    torch.testing.assert_close(terms.nll, nll, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(terms.kl_f, kl_f, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms.kl_z, kl_z, rtol=1e-5, atol=1e-5)
    assert terms.loss.item() == pytest.approx(
        (nll + kl_f + kl_z).mean().item(), rel=1e-5
    )


@torch.no_grad()
def tame_logvars(method: M) -> M:
    """Scale every log-variance head of a sequential VAE (DSA, RJVAE) by 0.1: at the
    re-implementation's init some log-variances reach ±15, which makes Monte-Carlo
    estimates of the KLs (but not the closed forms) too noisy to tell a wrong term
    from a right one."""
    for module in [*method.nets["E"].modules(), *method.nets["G"].modules()]:
        if isinstance(module, GaussianHead):
            module.logvar.weight.mul_(0.1)
            module.logvar.bias.mul_(0.1)
    return method


def within(analytic: torch.Tensor, draws: torch.Tensor, k: int) -> None:
    """The K-draw average of ``draws`` (one Monte-Carlo draw of a term each) and of
    the closed-form ``analytic`` differ by < 5 standard errors of the per-draw
    difference (a false alarm every ~1.7 M seeds; the seed is fixed)."""
    diff = (analytic - draws).double()
    assert abs(diff.mean().item()) < 5 * diff.std().item() / math.sqrt(k)


def test_elbo_terms_match_their_monte_carlo_estimates() -> None:
    """Each KL of (D3) in closed form against E_q[log q − log p] with the densities
    of torch.distributions, at the same K draws (common random numbers); so is the
    whole ELBO against the plain E_q[log p(x, z, f) − log q(z, f | x)], where the
    reconstruction terms coincide draw by draw."""
    k = 4000
    method = tame_logvars(small())
    video = clips(1).expand(k, -1, -1, -1, -1)
    torch.manual_seed(7)
    noise = {"f": torch.randn(k, 5), "z": torch.randn(k, 4, 3)}
    with eval_mode(method), torch.no_grad():
        terms = method.elbo(video, noise)
        post = method.nets["E"](video)
        f = post.f_mean + (0.5 * post.f_logvar).exp() * noise["f"]
        z = post.z_mean + (0.5 * post.z_logvar).exp() * noise["z"]
        log_px = Normal(method.nets["G"].decode(f, z), math.sqrt(0.5))
        p_mean, p_logvar = prior_by_hand(method, z)
    log_px = log_px.log_prob(video).flatten(1).sum(1)
    torch.testing.assert_close(-terms.nll, log_px)
    q_f = Normal(post.f_mean, (0.5 * post.f_logvar).exp())
    mc_f = q_f.log_prob(f).sum(1) - Normal(0.0, 1.0).log_prob(f).sum(1)
    q_z = Normal(post.z_mean, (0.5 * post.z_logvar).exp())
    p_z = Normal(p_mean, (0.5 * p_logvar).exp())
    mc_z = (q_z.log_prob(z) - p_z.log_prob(z)).sum((1, 2))
    within(terms.kl_f, mc_f, k)
    within(terms.kl_z, mc_z, k)
    within(-(terms.nll + terms.kl_f + terms.kl_z), log_px - mc_f - mc_z, k)
    assert (terms.kl_z - mc_z).std() > 0  # the estimators do differ draw by draw


def test_q_f_reads_forward_at_the_last_step_and_backward_at_the_first() -> None:
    """q(f | x(1:T)): the bi-LSTM's forward output at step T ‖ its backward output at
    step 1 (each has read every frame), then the two heads."""
    method = small()
    q_f = method.nets["E"].q_f
    features = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, _ = q_f.lstm(features)
        h = torch.cat([out[:, -1, :7], out[:, 0, 7:]], dim=-1)
        torch.testing.assert_close(q_f(features), q_f.head(h))


def test_prior_rollout_is_the_teacher_forced_prior_on_its_own_samples() -> None:
    """z(t) = m(t) + s(t)·ε(t) where (m, s) are p(z(t) | z(<t)) of the rollout's own
    past; ε = 0 follows the prior's means."""
    method = small()
    eps = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(0))
    g = method.nets["G"]
    with torch.no_grad():
        z = g.rollout(eps)
        mean, logvar = prior_by_hand(method, z)
        torch.testing.assert_close(z, mean + (0.5 * logvar).exp() * eps)
        torch.testing.assert_close(g.prior_params(z), (mean, logvar))
        z0 = g.rollout(torch.zeros_like(eps))
        torch.testing.assert_close(z0, prior_by_hand(method, z0)[0])
        codes = method.codes(2, torch.Generator().manual_seed(1))
        torch.testing.assert_close(
            method.generate(codes), g.decode(codes["f"], g.rollout(codes["eps"]))
        )


def check_train_steps_learn(method: VAEMethod, scalars: set[str]) -> None:
    """30 train steps on one batch of 4 clips: each returns the finite ``scalars``
    and the loss of the last three is < 0.9 × that of the first three."""
    batch = {"video": clips(4)}
    torch.manual_seed(0)
    losses = [method.train_step(batch, step) for step in range(30)]
    assert set(losses[0]) == scalars
    assert all(math.isfinite(v) for s in losses for v in s.values())
    first = sum(s["loss"] for s in losses[:3]) / 3
    last = sum(s["loss"] for s in losses[-3:]) / 3
    assert last < 0.9 * first


def test_train_step_decreases_the_loss_on_a_tiny_batch() -> None:
    check_train_steps_learn(small(lr=3e-3), {"loss", "nll", "kl_f", "kl_z"})


def test_reconstruct_and_clip_checks() -> None:
    method = small()
    with eval_mode(method), torch.no_grad():
        assert method.reconstruct(clips(2)).shape == (2, 3, 4, 16, 16)
        with pytest.raises(ValueError, match="2 frames"):
            method.encode(clips(2, frames=1))
        with pytest.raises(ValueError, match="16, 16"):
            method.encode(clips(2, res=8))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("frames", 1),
        ("resolution", 20),
        ("resolution", 4),
        ("dim_f", 0),
        ("dim_z", 0),
        ("hidden", 0),
        ("obs_var", 0.0),
        ("lr", -1.0),
        ("beta1", 1.0),
        ("init", "kaiming"),
    ],
)
def test_bad_configs_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        DSAConfig(**{**TINY, field: value})


def test_init_switch_keeps_pytorchs_init_or_applies_the_re_implementations() -> None:
    """``init: official`` is vidlib.nn.vae_init (BatchNorm β = 1, Kaiming-normal
    weights); ``init: torch`` leaves PyTorch's (β = 0)."""
    official, torch_init = small(), small(init="torch")
    bns = [
        (a, b)
        for a, b in zip(
            official.nets["G"].modules(), torch_init.nets["G"].modules(), strict=True
        )
        if isinstance(a, torch.nn.BatchNorm2d)
    ]
    assert bns and all(
        torch.all(a.bias == 1) and torch.all(b.bias == 0) for a, b in bns
    )
