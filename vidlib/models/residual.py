"""Jointly Trained Image and Video Generation using Residual Vectors (Dandi et al.,
WACV 2020).

Each frame's latent is a summary vector μ, drawn once per video from a fixed prior
in the image latent space, plus a residual vector δ(t) (Sec. 4): z(t) = μ + δ(t).
The decoder that maps z(t) to frame x(t) maps μ itself to the *summary frame*
x̄ = decoder(μ), an image of the factors shared across the video (Sec. 4.1, 5.4).

RJVAE (Residual Joint VAE, Sec. 4.1, Fig. 2 (b)-(d))
-----------------------------------------------------

The VAE of the residual-vector technique; its architecture derives from the
factorised DSA (Li & Mandt 2018, :mod:`vidlib.models.dsa`), with which Sec. 5.4
compares it on Sprites. Generative model (Fig. 2 (b)):

    (R1)  p(x(1:T), μ, δ(1:T)) = p(μ) Π_t p(δ(t) | δ(<t), μ) p(x(t) | z(t)),
          z(t) = μ + δ(t),
          p(μ) = N(0, σ² I),
          p(δ(t) | δ(<t), μ) = N(m(t), diag s²(t)),  (m(t), log s²(t)) = head(h(t)),
          h(t) = LSTMCell([μ ‖ δ(t−1)], h(t−1)),  δ(0) = 0, h(0) = 0,
          p(x(t) | z(t)) = N(decoder(z(t)), σ_x² I),   x̄ = decoder(μ).

Inference model (Fig. 2 (c), (d)): a bi-LSTM over the frames for the summary, a CNN
encoder of frame t and μ for the residual,

    (R2)  q(μ, δ(1:T) | x(1:T)) = q(μ | x(1:T)) Π_t q(δ(t) | x(t), μ).

The paper's derivation of the ELBO is in its Appendix, which we do not have; this
is ours. By Jensen's inequality,

    log p(x(1:T)) ≥ E_q[log p(x(1:T), μ, δ(1:T)) − log q(μ, δ(1:T) | x(1:T))],

and by (R1) and (R2) the log-ratio splits into

    log p(μ)/q(μ | x(1:T))
      + Σ_t log p(x(t) | μ + δ(t))
      + Σ_t [log p(δ(t) | δ(<t), μ) − log q(δ(t) | x(t), μ)].

The t-th term of the last sum depends on μ and δ(≤t) only, and under q the
conditional of δ(t) given μ and δ(<t) is q(δ(t) | x(t), μ); integrating δ(t) out
first turns it into a KL. So

    (R3)  L = Σ_t E_q(μ | x(1:T)) q(δ(t) | x(t), μ) [log p(x(t) | μ + δ(t))]
                                                              (reconstruction)
            − KL(q(μ | x(1:T)) ‖ N(0, σ² I))                    (summary KL)
            − Σ_t E_q(μ | x(1:T)) Π_{s<t} q(δ(s) | x(s), μ)
                  [KL(q(δ(t) | x(t), μ) ‖ p(δ(t) | δ(<t), μ))]  (residual KL)

with the KLs in closed form (:func:`vidlib.losses.kl_to_isotropic`,
:func:`vidlib.losses.kl_diag_gaussians`):

    (R4)  KL(N(m, diag v) ‖ N(0, σ² I)) = ½ Σ_j [(v_j + m_j²)/σ² − 1 − log(v_j/σ²)],
          KL(N(m_q, diag v_q) ‖ N(m_p, diag v_p))
              = ½ Σ_j [log(v_p,j/v_q,j) + (v_q,j + (m_q,j − m_p,j)²)/v_p,j − 1].

The remaining expectations are estimated with one reparameterised sample: μ from
q(μ | ·), then every δ(t) from q(δ(t) | x(t), μ) given that μ; the prior's LSTM
reads that μ and the posterior's δ(t−1) (teacher forcing). The loss is −L per video,
averaged over the batch, one Adam step per batch. With δ ≡ 0 every frame is the
summary frame x̄ (:meth:`RJVAE.summary_frames`).

Where the paper is silent (its Appendix with the architecture and settings is
missing), this module takes DSA's settings (:mod:`vidlib.models.dsa`, which lists
the re-implementation's choices) and says so:

* The frame encoder and the decoder are DSA's (:class:`vidlib.nn.FrameEncoder`,
  :class:`vidlib.nn.FrameDecoder`), so the two VAEs are comparable ("architecture
  derived from DSA"). μ, δ(t) and z(t) have ``dim_z`` = 288 = 256 + 32, DSA's
  dim f + dim z, so the decoder is DSA's to the parameter.
* q(μ | x(1:T)) is DSA's q(f | x(1:T)): a bi-LSTM(2048→512) over the frame features,
  its forward state at the last step ‖ backward state at the first, two Linear
  heads (:class:`vidlib.nn.SequencePosterior`).
* q(δ(t) | x(t), μ) is DSA's factorised q(z(t) | x(t)) with μ appended: Linear
  ([features(t) ‖ μ] → 512), LeakyReLU, two Linear heads. It reads the sampled μ,
  and shares the frame encoder with q(μ | ·) as DSA's two posteriors do.
* p(δ(t) | δ(<t), μ): an LSTMCell(2·288 → 512) fed [μ ‖ δ(t−1)] and two Linear
  heads (:class:`vidlib.nn.LSTMGaussianPrior`); δ(0) = 0 and the state starts at 0.
* σ = 1 (the paper names no value), σ_x² = ½, Adam lr 2e-4, β = (0.9, 0.999),
  batch 25, the init of :func:`vidlib.nn.vae_init`, 8 frames of 64×64: as DSA.
* ``appearance_code`` and ``motion_code`` are None: the paper claims no
  appearance/motion split for RJVAE (μ also carries the action, Sec. 4.1, 5.4).
  Its codes are ``"mu"`` (μ itself) and ``"eps"`` (the unit noise of the prior's
  rollout), which :func:`vidlib.metrics.disentanglement.code_effect` takes by name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

from vidlib.losses import gaussian_log_likelihood, kl_diag_gaussians, kl_to_isotropic
from vidlib.nn import (
    VAE_LRELU_SLOPE,
    FrameDecoder,
    FrameEncoder,
    GaussianHead,
    LSTMGaussianPrior,
    SequencePosterior,
    check_vae_clips,
    check_vae_config,
    decode_frames,
    encode_frames,
    reparameterise,
    vae_init,
)


@dataclass(frozen=True)
class RJVAEConfig:
    """Sizes and training settings of RJVAE; the paper gives none in its main text,
    so the defaults are DSA's Sprites settings (module docstring)."""

    dim_z: int = 288  # μ, δ(t) and z(t) = μ + δ(t)
    sigma: float = 1.0  # σ of p(μ) = N(0, σ² I)
    frames: int = 8  # T, >= 2 (the bi-LSTM of q(μ | x(1:T)) needs a sequence)
    resolution: int = 64  # H = W, a multiple of 8
    channels: int = 3
    conv_width: int = 256  # channels of every conv of the frame encoder/decoder
    fc_hidden: int = 4096  # the Linear between the convs and the frame features
    conv_dim: int = 2048  # per-frame features of the encoder
    hidden: int = 512  # LSTM hidden size (bi-LSTM per direction, prior LSTMCell)
    obs_var: float = 0.5  # σ_x² of p(x(t) | z(t)); ½: −log p = SSE + const
    lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ValueError(
                f"sigma must be > 0 (p(μ) = N(0, σ² I)), got sigma={self.sigma}"
            )
        check_vae_config(
            self,
            ("dim_z", "channels", "conv_width", "fc_hidden", "conv_dim", "hidden"),
        )


class RJVAEPosterior(NamedTuple):
    """Parameters of (R2) at one draw of μ: q(μ | x(1:T)) ``(B, dim_z)``, that μ, and
    q(δ(t) | x(t), μ) ``(B, T, dim_z)``; means and log-variances."""

    mu_mean: torch.Tensor
    mu_logvar: torch.Tensor
    mu: torch.Tensor
    delta_mean: torch.Tensor
    delta_logvar: torch.Tensor


class RJVAEInference(nn.Module):
    """The inference model (R2): q(μ | x(1:T)) by a bi-LSTM over frame features
    (Fig. 2 (c)), q(δ(t) | x(t), μ) by the frame's CNN features and μ (Fig. 2 (d))."""

    def __init__(self, cfg: RJVAEConfig) -> None:
        super().__init__()
        self.frames = FrameEncoder(
            cfg.channels, cfg.resolution, cfg.conv_width, cfg.fc_hidden, cfg.conv_dim
        )
        self.q_mu = SequencePosterior(cfg.conv_dim, cfg.hidden, cfg.dim_z)
        self.q_delta = nn.Sequential(
            nn.Linear(cfg.conv_dim + cfg.dim_z, cfg.hidden),
            nn.LeakyReLU(VAE_LRELU_SLOPE, inplace=True),
            GaussianHead(cfg.hidden, cfg.dim_z),
        )

    def forward(
        self, video: torch.Tensor, eps_mu: torch.Tensor | None = None
    ) -> RJVAEPosterior:
        """Clips ``(B, C, T, H, W)`` → :class:`RJVAEPosterior`; μ is the
        reparameterised draw with unit noise ``eps_mu`` (None: the global RNG;
        pass zeros for q's mean)."""
        features = encode_frames(self.frames, video)  # (B, T, conv_dim)
        mu_mean, mu_logvar = self.q_mu(features)
        mu = reparameterise(mu_mean, mu_logvar, eps_mu)
        mu_t = mu[:, None].expand(-1, features.shape[1], -1)
        delta_mean, delta_logvar = self.q_delta(torch.cat([features, mu_t], dim=-1))
        return RJVAEPosterior(mu_mean, mu_logvar, mu, delta_mean, delta_logvar)


class RJVAEGenerative(nn.Module):
    """The generative model (R1) without p(μ): the LSTM prior p(δ(t) | δ(<t), μ)
    (Fig. 2 (b)) and the decoder of p(x(t) | z(t))."""

    def __init__(self, cfg: RJVAEConfig) -> None:
        super().__init__()
        self.prior = LSTMGaussianPrior(2 * cfg.dim_z, cfg.hidden, cfg.dim_z)
        self.decoder = FrameDecoder(
            cfg.dim_z, cfg.channels, cfg.resolution, cfg.conv_width, cfg.fc_hidden
        )

    def prior_params(
        self, mu: torch.Tensor, delta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p(δ(t) | δ(<t), μ) for t = 1..T given μ
        ``(B, dim_z)`` and a sequence δ ``(B, T, dim_z)`` (the LSTM reads [μ ‖ δ(t−1)],
        δ(0) = 0): the conditionals of the residual KL of (R3)."""
        shifted = torch.cat([torch.zeros_like(delta[:, :1]), delta[:, :-1]], dim=1)
        mu_t = mu[:, None].expand(-1, delta.shape[1], -1)
        return self.prior(torch.cat([mu_t, shifted], dim=-1))

    def rollout(self, mu: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Ancestral sampling of p(δ(1:T) | μ) (R1): δ(t) = m(t) + s(t)·ε(t), each
        fed back with μ; μ ``(B, dim_z)``, unit noise ``eps`` ``(B, T, dim_z)`` →
        δ ``(B, T, dim_z)``."""
        delta_prev, state, deltas = torch.zeros_like(mu), None, []
        for t in range(eps.shape[1]):
            inputs = torch.cat([mu, delta_prev], dim=-1)
            mean, logvar, state = self.prior.step(inputs, state)
            delta_prev = reparameterise(mean, logvar, eps[:, t])
            deltas.append(delta_prev)
        return torch.stack(deltas, dim=1)

    def decode(self, mu: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """The mean of p(x(t) | z(t)), z(t) = μ + δ(t) (R1): μ ``(B, dim_z)``, δ
        ``(B, T, dim_z)`` → clips ``(B, C, T, H, W)`` in [-1, 1]."""
        return decode_frames(self.decoder, mu[:, None] + delta)


class RJVAEELBO(NamedTuple):
    """The terms of −(R3) per video ``(B,)``: ``nll`` = −Σ_t log p(x(t) | μ + δ(t)),
    ``kl_mu`` and ``kl_delta`` = Σ_t KL(q(δ(t) | x(t), μ) ‖ p(δ(t) | δ(<t), μ))."""

    nll: torch.Tensor
    kl_mu: torch.Tensor
    kl_delta: torch.Tensor

    @property
    def loss(self) -> torch.Tensor:
        """−L of (R3), averaged over the batch."""
        return (self.nll + self.kl_mu + self.kl_delta).mean()


class RJVAE:
    """The Method of RJVAE: the residual-vector VAE trained on its ELBO (R3).

    ``nets``: ``"E"`` (:class:`RJVAEInference`, q) and ``"G"``
    (:class:`RJVAEGenerative`, p); one Adam over both (``opts["vae"]``)."""

    appearance_code = None  # no appearance/motion split (module docstring)
    motion_code = None

    def __init__(self, cfg: RJVAEConfig = RJVAEConfig()) -> None:
        self.cfg = cfg
        self.config = {"model": "rjvae", **asdict(cfg)}
        self.nets: dict[str, nn.Module] = {
            "E": vae_init(RJVAEInference(cfg)),
            "G": vae_init(RJVAEGenerative(cfg)),
        }
        params = [p for net in self.nets.values() for p in net.parameters()]
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {"vae": torch.optim.Adam(params, cfg.lr, betas)}

    @property
    def device(self) -> torch.device:
        return next(self.nets["G"].parameters()).device

    def codes(
        self, n: int, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """μ ``(n, dim_z)`` ~ p(μ) = N(0, σ² I) and the rollout's unit noise eps
        ``(n, T, dim_z)`` ~ N(0, I), on the Method's device."""
        cfg = self.cfg
        mu = cfg.sigma * torch.randn(n, cfg.dim_z, generator=gen)
        eps = torch.randn(n, cfg.frames, cfg.dim_z, generator=gen)
        return {"mu": mu.to(self.device), "eps": eps.to(self.device)}

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Samples of (R1) (Sec. 5.4, Fig. 7 top): δ(1:T) rolled out of the prior
        from ``codes["eps"]`` given ``codes["mu"]``, decoded at μ + δ(t):
        ``(B, C, T, H, W)``."""
        g = self.nets["G"]
        mu = codes["mu"].to(self.device)
        return g.decode(mu, g.rollout(mu, codes["eps"].to(self.device)))

    def summary_frames(self, mu: torch.Tensor) -> torch.Tensor:
        """The summary frames x̄ = decoder(μ) (Sec. 4.1): μ ``(B, dim_z)`` →
        ``(B, C, H, W)``."""
        return self.nets["G"].decoder(mu.to(self.device))

    def encode(self, video: torch.Tensor) -> RJVAEPosterior:
        """q's parameters (R2) for clips ``(B, C, T, H, W)`` at μ = q(μ | ·)'s mean
        (Fig. 7 bottom); call it in :func:`vidlib.method.eval_mode` under
        ``torch.no_grad()`` for figures."""
        video = check_vae_clips(video.to(self.device), self.cfg)
        n = video.shape[0]
        return self.nets["E"](video, video.new_zeros(n, self.cfg.dim_z))

    def reconstruct(self, video: torch.Tensor) -> torch.Tensor:
        """The decoder's means at q's means: clips ``(B, C, T, H, W)``."""
        post = self.encode(video)
        return self.nets["G"].decode(post.mu, post.delta_mean)

    def elbo(
        self, video: torch.Tensor, noise: dict[str, torch.Tensor] | None = None
    ) -> RJVAEELBO:
        """The terms of −(R3) for clips ``(B, C, T, H, W)`` at one reparameterised
        sample of q; ``noise`` (``"mu"``, ``"delta"``: unit normal, shaped like μ and
        δ(1:T)) fixes that sample, else it is drawn from the global RNG."""
        noise = noise or {}
        video = check_vae_clips(video.to(self.device), self.cfg)
        post = self.nets["E"](video, noise.get("mu"))
        delta = reparameterise(post.delta_mean, post.delta_logvar, noise.get("delta"))
        g = self.nets["G"]
        prior_mean, prior_logvar = g.prior_params(post.mu, delta)
        nll = -gaussian_log_likelihood(
            video, g.decode(post.mu, delta), self.cfg.obs_var
        )
        kl_mu = kl_to_isotropic(post.mu_mean, post.mu_logvar, self.cfg.sigma)
        kl_delta = kl_diag_gaussians(
            post.delta_mean, post.delta_logvar, prior_mean, prior_logvar
        )
        return RJVAEELBO(nll, kl_mu, kl_delta.sum(-1))

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One Adam step on −(R3), averaged over the batch's clips."""
        terms = self.elbo(batch["video"])
        loss = terms.loss
        self.opts["vae"].zero_grad(set_to_none=True)
        loss.backward()
        self.opts["vae"].step()
        scalars = {name: value.mean() for name, value in terms._asdict().items()}
        return {"loss": loss.item()} | {k: v.item() for k, v in scalars.items()}
