"""DSA: Disentangled Sequential Autoencoder (Li & Mandt, ICML 2018), factorised version.

The baseline of the residual-vector paper's VAE experiments (its Sec. 3 and 5.4
compare RJVAE with the *factorised* DSA only). A video x(1:T) is generated from a
static code f, drawn once, and a dynamic code z(t) per frame (Li & Mandt 2018):

    (D1)  p(x(1:T), z(1:T), f) = p(f) Π_t p(z(t) | z(<t)) p(x(t) | z(t), f),
          p(f) = N(0, I),
          p(z(t) | z(<t)) = N(m(t), diag s²(t)),  (m(t), log s²(t)) = head(h(t)),
          h(t) = LSTM(z(t−1), h(t−1)),  z(0) = 0, h(0) = 0,
          p(x(t) | z(t), f) = N(decoder([z(t) ‖ f]), σ_x² I).

The factorised inference model:

    (D2)  q(f, z(1:T) | x(1:T)) = q(f | x(1:T)) Π_t q(z(t) | x(t)),

q(f | ·) a bi-LSTM over per-frame conv features, q(z(t) | x(t)) an MLP of frame t's
features alone; both diagonal Gaussians. The ELBO, maximised by one Adam update per
step on a single reparameterised sample (Kingma & Welling 2014):

    (D3)  log p(x(1:T)) ≥ L = Σ_t E_q[log p(x(t) | z(t), f)]            (reconstruction)
                             − KL(q(f | x(1:T)) ‖ p(f))                 (static KL)
                             − Σ_t E_q(z(<t)|x(<t)) [KL(q(z(t) | x(t))
                                                       ‖ p(z(t) | z(<t)))]  (dynamic KL)

Both KLs are in closed form (:func:`vidlib.losses.kl_diag_gaussians`); the
expectation over z(<t) in the dynamic KL is the one posterior sample, fed through
the prior's LSTM (teacher forcing, :meth:`DSAGenerative.prior_params`). The loss is
−L per video, averaged over the batch.

Where the paper is silent, this module follows the re-implementations (reference
§6; the DSA code itself was never released) and says so:

* Architecture of yatindandi/Disentangled-Sequential-Autoencoder (written by the
  residual-vector paper's first author, so the closest to the RJVAE comparison):
  per-frame encoder Conv k5 s1 (C→256), 3× Conv k5 s2 (BN, LeakyReLU), Linear 4096
  and Linear 2048 (BN, LeakyReLU) (:class:`vidlib.nn.FrameEncoder`); q(f | ·) a
  bi-LSTM(2048→512) whose forward state at the last step ‖ backward state at the
  first step feeds two Linear heads (:class:`vidlib.nn.SequencePosterior`);
  factorised q(z(t) | x(t)) = Linear(2048→512), LeakyReLU, two Linear heads; the
  prior an LSTMCell(32→512) and two Linear heads; the decoder Linear 4096, Linear
  16384 (LeakyReLU, no BN), 3× ConvT k5 s2 (BN, LeakyReLU), ConvT k5 s1 to C, tanh
  (:class:`vidlib.nn.FrameDecoder`). At 64×64 with f 256, z 32, hidden 512 this is
  166,950,787 parameters (≈167 M, as reference §6.1 counts).
* Sizes: f 256, z 32, hidden 512, 8 frames of 64×64 (the Sprites settings).
* Heads output log-variances; the prior's state and z(0) start at zeros.
* Init: Kaiming-normal conv/linear weights, BatchNorm γ = 1 and β = 1
  (:func:`vidlib.nn.vae_init`); biases and LSTMs keep PyTorch's init.
* LeakyReLU slope 0.2 (the code's slope is not in the reference).
* Adam, lr 2e-4, β = (0.9, 0.999), batch 25.
* Likelihood: the re-implementation's loss is (SSE + KL_f + Σ_t KL_z) / B, i.e. a
  Gaussian p(x(t) | ·) with σ_x² = ½ up to a constant; ``obs_var`` = ½ keeps that
  (vidlib's frames are in [-1, 1]; the reference does not say which range the
  re-implementation's frames are in). The loss here includes the constant, so it
  is the negative ELBO in nats.

Where the re-implementations differ from the paper, this module follows the paper:

* yatindandi's code (and C-DSVAE) unrolls the prior on *its own* samples and
  compares that trajectory with the posterior's: the dynamic KL of (D3) conditions
  p(z(t) | z(<t)) on the posterior's z(<t), as here.
* An older commit and the ``mazzzystar`` fork use p(z(t)) = N(0, I); the paper's
  prior is the LSTM above.

Sampling (:meth:`DSA.codes`, :meth:`DSA.generate`): the codes are f ~ N(0, I) and
the unit noise ε(1:T) of the prior's rollout, z(t) = m(t) + s(t)·ε(t) fed back into
the LSTM; f is the appearance code and ε the motion code of the disentanglement
metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from vidlib.losses import gaussian_log_likelihood, kl_diag_gaussians, kl_to_isotropic
from vidlib.method import VAEMethod
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
)


@dataclass(frozen=True)
class DSAConfig:
    """Sizes and training settings; the defaults are DSA's Sprites settings as the
    re-implementation has them (reference §6.1)."""

    dim_f: int = 256  # static code f
    dim_z: int = 32  # dynamic code z(t)
    frames: int = 8  # T, >= 2 (the bi-LSTM of q(f | x(1:T)) needs a sequence)
    resolution: int = 64  # H = W, a multiple of 8
    channels: int = 3
    conv_width: int = 256  # channels of every conv of the frame encoder/decoder
    fc_hidden: int = 4096  # the Linear between the convs and the frame features
    conv_dim: int = 2048  # per-frame features of the encoder
    hidden: int = 512  # LSTM hidden size (bi-LSTM per direction, prior LSTMCell)
    obs_var: float = 0.5  # σ_x² of p(x(t) | z(t), f); ½: −log p = SSE + const
    lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999
    init: str = "official"  # vidlib.nn.vae_init (re-implementation) or "torch"

    def __post_init__(self) -> None:
        check_vae_config(
            self,
            ("dim_f", "dim_z", "channels", "conv_width", "fc_hidden", "conv_dim")
            + ("hidden",),
        )


class Posterior(NamedTuple):
    """Parameters of (D2): q(f | x(1:T)) ``(B, dim_f)`` and q(z(t) | x(t))
    ``(B, T, dim_z)``, means and log-variances."""

    f_mean: torch.Tensor
    f_logvar: torch.Tensor
    z_mean: torch.Tensor
    z_logvar: torch.Tensor


class DSAInference(nn.Module):
    """The factorised inference model (D2): clips ``(B, C, T, H, W)`` →
    :class:`Posterior`."""

    def __init__(self, cfg: DSAConfig) -> None:
        super().__init__()
        self.frames = FrameEncoder(
            cfg.channels, cfg.resolution, cfg.conv_width, cfg.fc_hidden, cfg.conv_dim
        )
        self.q_f = SequencePosterior(cfg.conv_dim, cfg.hidden, cfg.dim_f)
        self.q_z = nn.Sequential(
            nn.Linear(cfg.conv_dim, cfg.hidden),
            nn.LeakyReLU(VAE_LRELU_SLOPE, inplace=True),
            GaussianHead(cfg.hidden, cfg.dim_z),
        )

    def forward(self, video: torch.Tensor) -> Posterior:
        features = encode_frames(self.frames, video)  # (B, T, conv_dim)
        return Posterior(*self.q_f(features), *self.q_z(features))


class DSAGenerative(nn.Module):
    """The generative model (D1) without p(f): the LSTM prior p(z(t) | z(<t)) and the
    decoder of p(x(t) | z(t), f)."""

    def __init__(self, cfg: DSAConfig) -> None:
        super().__init__()
        self.prior = LSTMGaussianPrior(cfg.dim_z, cfg.hidden, cfg.dim_z)
        self.decoder = FrameDecoder(
            cfg.dim_z + cfg.dim_f,
            cfg.channels,
            cfg.resolution,
            cfg.conv_width,
            cfg.fc_hidden,
        )

    def prior_params(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p(z(t) | z(<t)) for t = 1..T given a sequence z
        ``(B, T, dim_z)`` (the LSTM reads z(0) = 0, z(1), ..., z(T−1)): the
        conditionals of the dynamic KL of (D3)."""
        shifted = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], dim=1)
        return self.prior(shifted)

    def rollout(self, eps: torch.Tensor) -> torch.Tensor:
        """Ancestral sampling of p(z(1:T)) (D1): z(t) = m(t) + s(t)·ε(t), each z(t)
        fed back; unit noise ``eps`` ``(B, T, dim_z)`` → z ``(B, T, dim_z)``."""
        z_prev, state, zs = torch.zeros_like(eps[:, 0]), None, []
        for t in range(eps.shape[1]):
            mean, logvar, state = self.prior.step(z_prev, state)
            z_prev = reparameterise(mean, logvar, eps[:, t])
            zs.append(z_prev)
        return torch.stack(zs, dim=1)

    def decode(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The mean of p(x(t) | z(t), f) (D1): f ``(B, dim_f)``, z ``(B, T, dim_z)`` →
        clips ``(B, C, T, H, W)`` in [-1, 1]."""
        f = f[:, None].expand(-1, z.shape[1], -1)
        return decode_frames(self.decoder, torch.cat([z, f], dim=-1))


class ELBO(NamedTuple):
    """The terms of −(D3) per video ``(B,)``: ``nll`` = −Σ_t log p(x(t) | z(t), f),
    ``kl_f`` and ``kl_z`` = Σ_t KL(q(z(t) | x(t)) ‖ p(z(t) | z(<t)))."""

    nll: torch.Tensor
    kl_f: torch.Tensor
    kl_z: torch.Tensor

    @property
    def loss(self) -> torch.Tensor:
        """−L of (D3), averaged over the batch."""
        return (self.nll + self.kl_f + self.kl_z).mean()


class DSA(VAEMethod):
    """The Method: the factorised DSA trained on its ELBO (D3), one Adam step on −(D3)
    per batch (:class:`~vidlib.method.VAEMethod`).

    ``nets``: ``"E"`` (:class:`DSAInference`, q) and ``"G"`` (:class:`DSAGenerative`,
    p); one Adam over both (``opts["vae"]``)."""

    name = "dsa"
    appearance_code = "f"
    motion_code = "eps"

    def __init__(self, cfg: DSAConfig = DSAConfig()) -> None:
        super().__init__(cfg, DSAInference, DSAGenerative)

    def codes(
        self, n: int, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """f ``(n, dim_f)`` ~ p(f) = N(0, I) and the rollout's unit noise eps
        ``(n, T, dim_z)`` ~ N(0, I), on the Method's device."""
        cfg = self.cfg
        f = torch.randn(n, cfg.dim_f, generator=gen)
        eps = torch.randn(n, cfg.frames, cfg.dim_z, generator=gen)
        return {"f": f.to(self.device), "eps": eps.to(self.device)}

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Samples of (D1): z(1:T) rolled out of the prior from ``codes["eps"]``, the
        decoder's means for them and ``codes["f"]``: ``(B, C, T, H, W)``."""
        g = self.nets["G"]
        z = g.rollout(codes["eps"].to(self.device))
        return g.decode(codes["f"].to(self.device), z)

    def encode(self, video: torch.Tensor) -> Posterior:
        """q's parameters (D2) for clips ``(B, C, T, H, W)``; call it in
        :func:`vidlib.method.eval_mode` under ``torch.no_grad()`` for figures."""
        return self.nets["E"](check_vae_clips(video.to(self.device), self.cfg))

    def reconstruct(self, video: torch.Tensor) -> torch.Tensor:
        """The decoder's means at q's means: clips ``(B, C, T, H, W)``."""
        post = self.encode(video)
        return self.nets["G"].decode(post.f_mean, post.z_mean)

    def elbo(
        self, video: torch.Tensor, noise: dict[str, torch.Tensor] | None = None
    ) -> ELBO:
        """The terms of −(D3) for clips ``(B, C, T, H, W)`` at one reparameterised
        sample of q; ``noise`` (``"f"``, ``"z"``: unit normal, shaped like f and
        z(1:T)) fixes that sample, else it is drawn from the global RNG."""
        noise = noise or {}
        post = self.encode(video)
        f = reparameterise(post.f_mean, post.f_logvar, noise.get("f"))
        z = reparameterise(post.z_mean, post.z_logvar, noise.get("z"))
        g = self.nets["G"]
        prior_mean, prior_logvar = g.prior_params(z)
        nll = -gaussian_log_likelihood(
            video.to(self.device), g.decode(f, z), self.cfg.obs_var
        )
        kl_f = kl_to_isotropic(post.f_mean, post.f_logvar)
        kl_z = kl_diag_gaussians(post.z_mean, post.z_logvar, prior_mean, prior_logvar)
        return ELBO(nll, kl_f, kl_z.sum(-1))
