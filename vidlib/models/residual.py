"""Jointly Trained Image and Video Generation using Residual Vectors (Dandi et al.,
WACV 2020): RJGAN, RMoCoGAN, RJVAE and the image-only baseline.

Each frame's latent is a **summary vector** plus a **residual vector** (Sec. 4.1): a
video draws ``μ ~ N(0, σ²I)`` once, a recurrent network draws ``δ^(t)`` given μ and
the past, and frame ``t`` is ``x^(t) = G_I(z^(t))`` with ``z^(t) = μ + δ^(t)``. The
image ``x̄ = G_I(μ)`` is the video's **summary frame**. Because μ has a fixed prior,
G_I alone is an image generator: images need no RNN.

* **RJGAN** (Fig. 2a): ``δ^(t)`` is the output of a GRU cell fed ``ε^(t) ~ N(0, I)``
  and μ. D_I and D_V are MoCoGAN's; Eq. (1) adds an image-GAN term in which D_I
  also sees summary frames G_I(μ) as fakes:

      E_v[−log D_I(S_1(v))] + E_ṽ[−log(1 − D_I(S_1(ṽ)))]
    + E_v[−log D_V(S_T(v))] + E_ṽ[−log(1 − D_V(S_T(ṽ)))]
    + E_v[−log D_I(S_1(v))] + E_μ[−log(1 − D_I(G_I(μ)))].              (1)

* **RMoCoGAN** (Sec. 4.2): MoCoGAN whose content code is a summary ``z_C ~ N(0,
  σ²I)``; MoCoGAN's motion GRU runs independently of it, and the frame latent is
  ``[z_C + δ_C^(t), z_M^(t)]`` with ``δ_C^(t)`` a function of ``(z_C, z_M^(t))`` only.
  It trains on MoCoGAN's objective F_V (Eq. (1) without its last line).
* **ImageGAN**, the baseline of Sec. 5.2 / Table 5 and the pre-training of Table 3:
  G_I and D_I alone, trained on single frames ``S_1(v)`` with the image GAN game
  ``E_v[−log D_I(S_1(v))] + E_μ[−log(1 − D_I(G_I(μ)))]``. Its generator keeps G_I
  under the name ``image`` as RJGAN's does, so its weights load into RJGAN.

Mixed data (Sec. 5.1): a batch of :func:`vidlib.data.mixed.collate_mixed`
(``{"videos": ..., "images": ...}``) feeds its images to D_I only; D_V sees videos.

The paper defers architectures and settings to an appendix that our copy lacks and
says the models follow MoCoGAN's; no code was released. The choices made here:

* G_I, D_I, D_V and R_M are MoCoGAN's (:mod:`vidlib.nn`), with its sizes and its
  optimiser (Adam 2e-4, β = (0.5, 0.999), weight decay 1e-5) and σ = 1.
* RJGAN: ``dim_z`` = MoCoGAN's d_C + d_M (60), so G_I is MoCoGAN's; ε has MoCoGAN's
  d_M (10). δ^(t) is the GRU state (as MoCoGAN's z_M is), with ``h^(0) = 0``: the
  paper feeds only ε and μ, so the randomness is theirs.
* Eq. (1)'s real term is counted twice, as written, on the same frames ``S_1(v)``;
  the summary frames are those of the generated videos' μ. The paper inputs them
  "periodically" without a period: ``summary_every`` (default 1, every update, as
  Eq. (1) writes it).
* RMoCoGAN: ``δ_C = tanh(W_2 ReLU(W_1 [z_C, z_M^(t)]))`` with a hidden layer of width
  d_C; the tanh bounds it like RJGAN's GRU residual.

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

import copy
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from einops import rearrange, repeat
from torch import nn

from vidlib.losses import (
    discriminator_loss,
    gaussian_log_likelihood,
    generator_loss,
    kl_diag_gaussians,
    kl_to_isotropic,
    lazy_r1_weight,
    r1_penalty,
)
from vidlib.method import SamplesFromG, VAEMethod
from vidlib.nn import (
    VAE_LRELU_SLOPE,
    FrameDecoder,
    FrameEncoder,
    GaussianHead,
    ImageGenerator,
    LSTMGaussianPrior,
    MotionGRU,
    PatchImageDiscriminator,
    PatchVideoDiscriminator,
    SequencePosterior,
    check_gan_config,
    check_upsample,
    check_vae_clips,
    check_vae_config,
    decode_frames,
    ema_update,
    encode_frames,
    reparameterise,
    sample_frames,
)


@dataclass(frozen=True)
class ResidualGANConfig:
    """What RJGAN, RMoCoGAN and the image baseline share; MoCoGAN's values."""

    frames: int = 16  # T of the clips D_V judges
    resolution: int = 64  # H = W, a power of two ≥ 16
    channels: int = 3
    ngf: int = 64  # G_I width (last hidden layer)
    ndf: int = 64  # D_I / D_V width (first layer)
    image_upsample: str = "transposed"  # G_I's 2× layers (MoCoGAN), or "nearest"
    sigma: float = 1.0  # σ of the summary prior N(0, σ²I)
    video_temporal_padding: int = 0  # D_V temporal padding (MoCoGAN official: 0)
    image_frames: int = 1  # frames S_1 draws from each clip for D_I
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-5
    loss: str = "bce"  # "bce" (paper) or "hinge"
    ema_decay: float = 0.0  # EMA of G for sampling; 0 = off (paper)
    r1_gamma: float = 0.0  # γ of a lazy R1 penalty on D_I and D_V; 0 = off (paper)
    r1_every: int = 16  # R1 on every r1_every-th D update, scaled by r1_every
    video_weight: float = 1.0  # λ_V on G's D_V term; 1 = Eq. (1) as written

    def __post_init__(self) -> None:
        if not self.video_weight >= 0:
            raise ValueError(
                f"video_weight (λ_V on G's D_V term) must be >= 0, "
                f"got {self.video_weight}"
            )
        if self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ValueError(
                f"resolution must be a power of two >= 16, got {self.resolution}"
            )
        if not self.sigma > 0:
            raise ValueError(
                f"sigma (σ of the prior N(0, σ²I)) must be > 0, got {self.sigma}"
            )
        sizes = ("frames", "ngf", "ndf", "r1_every", *self._sizes())
        check_gan_config(self, sizes)
        check_upsample(self.image_upsample)

    def _sizes(self) -> tuple[str, ...]:
        """The model's own sizes that must be >= 1."""
        return ()


@dataclass(frozen=True)
class RJGANConfig(ResidualGANConfig):
    """RJGAN's sizes (Sec. 4.1); the shared fields are MoCoGAN's."""

    dim_z: int = 60  # d of μ, δ^(t) and z^(t) (MoCoGAN's d_C + d_M)
    dim_eps: int = 10  # d of ε^(t) (MoCoGAN's d_M)
    summary_every: int = 1  # Eq. (1)'s summary term on every k-th update

    def _sizes(self) -> tuple[str, ...]:
        return ("dim_z", "dim_eps", "summary_every")


@dataclass(frozen=True)
class RMoCoGANConfig(ResidualGANConfig):
    """RMoCoGAN's sizes (Sec. 4.2): MoCoGAN's codes."""

    dim_z_content: int = 50  # d_C of the content summary z_C
    dim_z_motion: int = 10  # d_M (also the size of ε and of the GRU state)

    def _sizes(self) -> tuple[str, ...]:
        return ("dim_z_content", "dim_z_motion")


@dataclass(frozen=True)
class ImageGANConfig(ResidualGANConfig):
    """The image baseline (Sec. 5.2): G_I and D_I; ``frames`` is the clip length of
    the data its frames are drawn from."""

    dim_z: int = 60  # d of μ (RJGAN's, so the weights transfer)

    def _sizes(self) -> tuple[str, ...]:
        return ("dim_z",)


def image_generator(cfg: ResidualGANConfig, dim_z: int) -> ImageGenerator:
    """MoCoGAN's G_I at ``cfg``'s sizes for latents of ``dim_z``."""
    return ImageGenerator(
        dim_z, cfg.resolution, cfg.ngf, cfg.channels, upsample=cfg.image_upsample
    )


class RJGANGenerator(nn.Module):
    """RJGAN's G (Fig. 2a): ``δ^(t) = GRU([ε^(t), μ], δ^(t−1))``, ``δ^(0) = 0``;
    ``x^(t) = G_I(μ + δ^(t))``."""

    def __init__(self, cfg: RJGANConfig) -> None:
        super().__init__()
        self.residual = MotionGRU(cfg.dim_eps, cfg.dim_z, dim_cond=cfg.dim_z)
        self.image = image_generator(cfg, cfg.dim_z)

    def latents(self, mu: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """μ ``(B, d)``, ε ``(B, T, d_ε)`` → frame latents z^(1..T) ``(B, T, d)``."""
        delta = self.residual(eps, torch.zeros_like(mu), cond=mu)
        return mu[:, None] + delta

    def forward(self, mu: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` in [-1, 1]."""
        z = self.latents(mu, eps)
        frames = self.image(rearrange(z, "b t d -> (b t) d"))
        return rearrange(frames, "(b t) c h w -> b c t h w", t=z.shape[1])

    def summary(self, mu: torch.Tensor) -> torch.Tensor:
        """Summary frames ``x̄ = G_I(μ)`` ``(B, C, H, W)``."""
        return self.image(mu)


class RMoCoGANGenerator(nn.Module):
    """RMoCoGAN's G (Sec. 4.2): ``z_M = R_M(ε)`` as in MoCoGAN, ``δ_C^(t) =
    f(z_C, z_M^(t))``, ``x^(t) = G_I([z_C + δ_C^(t), z_M^(t)])``."""

    def __init__(self, cfg: RMoCoGANConfig) -> None:
        super().__init__()
        d_c, d_m = cfg.dim_z_content, cfg.dim_z_motion
        self.motion = MotionGRU(d_m, d_m)
        self.residual = nn.Sequential(
            nn.Linear(d_c + d_m, d_c), nn.ReLU(True), nn.Linear(d_c, d_c), nn.Tanh()
        )
        self.image = image_generator(cfg, d_c + d_m)

    def latents(self, z_C: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z_C ``(B, d_C)``, eps ``(B, T+1, d_M)`` (``eps[:, 0] = h^(0)``) → frame
        latents ``[z_C + δ_C^(t), z_M^(t)]`` ``(B, T, d_C + d_M)``."""
        z_M = self.motion(eps[:, 1:], eps[:, 0])
        z_C = repeat(z_C, "b d -> b t d", t=z_M.shape[1])
        delta_C = self.residual(torch.cat([z_C, z_M], dim=2))
        return torch.cat([z_C + delta_C, z_M], dim=2)

    def forward(self, z_C: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` in [-1, 1]."""
        z = self.latents(z_C, eps)
        frames = self.image(rearrange(z, "b t d -> (b t) d"))
        return rearrange(frames, "(b t) c h w -> b c t h w", t=z.shape[1])


class ImageBaselineGenerator(nn.Module):
    """The baseline's G: ``G_I(μ)`` as a one-frame video ``(B, C, 1, H, W)``."""

    def __init__(self, cfg: ImageGANConfig) -> None:
        super().__init__()
        self.image = image_generator(cfg, cfg.dim_z)

    def forward(self, mu: torch.Tensor) -> torch.Tensor:
        return self.image(mu)[:, :, None]


def _real_frames(batch: dict, k: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The real clips and the real images of a batch: ``S_1`` of each clip, plus the
    images of a mixed batch (:func:`vidlib.data.mixed.collate_mixed`), which have
    ``T == 1``. Returns ``(videos or None, frames)``."""
    if "videos" not in batch:  # a batch of videos
        return batch["video"], sample_frames(batch["video"], k)
    videos = batch["videos"]["video"] if batch["videos"] is not None else None
    frames = [] if videos is None else [sample_frames(videos, k)]
    if batch["images"] is not None:
        frames.append(batch["images"]["video"][:, :, 0])
    return videos, torch.cat(frames)


class _ImageVideoGAN(SamplesFromG):
    """What the three Methods share: MoCoGAN's D_I and D_V (the baseline has no D_V),
    Adam, the EMA of G, and the alternating update of :meth:`train_step`."""

    name = ""
    video = True  # whether the Method generates videos and has D_V

    def __init__(self, cfg: ResidualGANConfig, generator: nn.Module) -> None:
        self.cfg = cfg
        self.config = {"model": self.name, **asdict(cfg)}
        self.nets: dict[str, nn.Module] = {
            "G": generator,
            "D_I": PatchImageDiscriminator(cfg.channels, cfg.ndf),
        }
        if self.video:
            self.nets["D_V"] = PatchVideoDiscriminator(
                cfg.channels,
                cfg.ndf,
                cfg.resolution,
                cfg.frames,
                cfg.video_temporal_padding,
            )
        if cfg.ema_decay > 0:
            self.nets["G_ema"] = copy.deepcopy(generator).requires_grad_(False)
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {
            name: torch.optim.Adam(
                self.nets[name].parameters(),
                cfg.lr_g if name == "G" else cfg.lr_d,
                betas,
                weight_decay=cfg.weight_decay,
            )
            for name in ("G", "D_I", "D_V")
            if name in self.nets
        }

    def _summary(self, net: nn.Module, codes: dict, step: int) -> torch.Tensor | None:
        """Fake images D_I sees besides S_1 of fake clips (None: none)."""
        return None

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One update of D_I and D_V on their terms of the objective, then one of G
        on fresh codes (MoCoGAN's alternation)."""
        cfg, nets, opts = self.cfg, self.nets, self.opts
        k = cfg.image_frames
        real, real_frames = _real_frames(batch, k)
        b = real_frames.shape[0] if real is None else real.shape[0]

        codes = self.codes(b)
        with torch.no_grad():
            fake = self._run(nets["G"], codes)
            fake_summary = self._summary(nets["G"], codes, step)
        r1_weight = lazy_r1_weight(cfg.r1_gamma, cfg.r1_every, step)
        if r1_weight:
            real_frames = real_frames.detach().requires_grad_(True)
        real_image = nets["D_I"](real_frames)
        losses = {
            "d_image": discriminator_loss(
                real_image,
                nets["D_I"](sample_frames(fake, min(k, fake.shape[2]))),
                cfg.loss,
            )
        }
        if fake_summary is not None:
            losses["d_summary"] = discriminator_loss(
                real_image, nets["D_I"](fake_summary), cfg.loss
            )
        d_r1 = r1_penalty(real_image, real_frames) if r1_weight else 0.0
        if self.video and real is not None:
            if r1_weight:
                real = real.detach().requires_grad_(True)
            real_out = nets["D_V"](real)[:, 0]
            losses["d_video"] = discriminator_loss(
                real_out, nets["D_V"](fake)[:, 0], cfg.loss
            )
            if r1_weight:
                d_r1 = d_r1 + r1_penalty(real_out, real)
        if r1_weight:
            losses["d_r1"] = r1_weight * d_r1
        for name in ("D_I", "D_V"):
            if name in opts:
                opts[name].zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        for name in ("D_I", "D_V"):
            if name in opts:
                opts[name].step()

        codes = self.codes(b)
        fake = self._run(nets["G"], codes)
        g_losses = {
            "g_image": generator_loss(
                nets["D_I"](sample_frames(fake, min(k, fake.shape[2]))), cfg.loss
            )
        }
        fake_summary = self._summary(nets["G"], codes, step)
        if fake_summary is not None:
            g_losses["g_summary"] = generator_loss(nets["D_I"](fake_summary), cfg.loss)
        if self.video and real is not None:
            g_losses["g_video"] = cfg.video_weight * generator_loss(
                nets["D_V"](fake)[:, 0], cfg.loss
            )
        opts["G"].zero_grad(set_to_none=True)
        sum(g_losses.values()).backward()
        opts["G"].step()
        if "G_ema" in nets:
            ema_update(nets["G_ema"], nets["G"], cfg.ema_decay)
        return {name: value.item() for name, value in (losses | g_losses).items()}


class RJGAN(_ImageVideoGAN):
    """RJGAN (Sec. 4.1, Eq. (1))."""

    name = "rjgan"
    appearance_code = None  # RJGAN does not separate appearance from motion
    motion_code = None

    def __init__(self, cfg: RJGANConfig = RJGANConfig()) -> None:
        super().__init__(cfg, RJGANGenerator(cfg))

    def codes(
        self, n: int, gen: torch.Generator | None = None, frames: int | None = None
    ) -> dict[str, torch.Tensor]:
        """μ ``(n, d) ~ N(0, σ²I)`` and ε ``(n, T, d_ε) ~ N(0, I)``."""
        cfg, t = self.cfg, frames or self.cfg.frames
        codes = {
            "mu": cfg.sigma * torch.randn(n, cfg.dim_z, generator=gen),
            "eps": torch.randn(n, t, cfg.dim_eps, generator=gen),
        }
        return {k: v.to(self.device) for k, v in codes.items()}

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return net(codes["mu"].to(self.device), codes["eps"].to(self.device))

    def _summary(self, net: nn.Module, codes: dict, step: int) -> torch.Tensor | None:
        """G_I(μ) of Eq. (1) on every ``summary_every``-th update."""
        if step % self.cfg.summary_every:
            return None
        return net.summary(codes["mu"])

    @torch.no_grad()
    def summary_frames(self, mu: torch.Tensor) -> torch.Tensor:
        """The sampling generator's summary frames x̄ = G_I(μ): μ ``(B, dim_z)`` →
        ``(B, C, H, W)``."""
        return self.generator.summary(mu.to(self.device))

    def prior_images(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """Table 5's images: summary frames G_I(μ) of ``n`` draws of μ."""
        return self.summary_frames(self.codes(n, gen)["mu"])


class RMoCoGAN(_ImageVideoGAN):
    """RMoCoGAN (Sec. 4.2), trained on MoCoGAN's F_V."""

    name = "rmocogan"
    appearance_code = "z_C"
    motion_code = "eps"

    def __init__(self, cfg: RMoCoGANConfig = RMoCoGANConfig()) -> None:
        super().__init__(cfg, RMoCoGANGenerator(cfg))

    def codes(
        self, n: int, gen: torch.Generator | None = None, frames: int | None = None
    ) -> dict[str, torch.Tensor]:
        """z_C ``(n, d_C) ~ N(0, σ²I)``, eps ``(n, T+1, d_M) ~ N(0, I)`` (``eps[:, 0]``
        is R_M's initial state h^(0), as in MoCoGAN)."""
        cfg, t = self.cfg, frames or self.cfg.frames
        codes = {
            "z_C": cfg.sigma * torch.randn(n, cfg.dim_z_content, generator=gen),
            "eps": torch.randn(n, t + 1, cfg.dim_z_motion, generator=gen),
        }
        return {k: v.to(self.device) for k, v in codes.items()}

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return net(codes["z_C"].to(self.device), codes["eps"].to(self.device))


class ImageGAN(_ImageVideoGAN):
    """The image-only baseline (Sec. 5.2): G_I and D_I on single frames."""

    name = "image_gan"
    video = False
    appearance_code = None
    motion_code = None

    def __init__(self, cfg: ImageGANConfig = ImageGANConfig()) -> None:
        super().__init__(cfg, ImageBaselineGenerator(cfg))

    def codes(
        self, n: int, gen: torch.Generator | None = None, frames: int | None = None
    ) -> dict[str, torch.Tensor]:
        """μ ``(n, d) ~ N(0, σ²I)``."""
        mu = self.cfg.sigma * torch.randn(n, self.cfg.dim_z, generator=gen)
        return {"mu": mu.to(self.device)}

    @torch.no_grad()
    def prior_images(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """Table 5's baseline images: G_I(μ) of ``n`` draws of μ, ``(n, C, H, W)``."""
        return self.generate(self.codes(n, gen))[:, :, 0]

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return net(codes["mu"].to(self.device))


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
    decoder_upsample: str = "transposed"  # the decoder's 2× layers (DSA), or "nearest"
    lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999
    init: str = "official"  # vidlib.nn.vae_init (re-implementation) or "torch"

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ValueError(
                f"sigma must be > 0 (p(μ) = N(0, σ² I)), got sigma={self.sigma}"
            )
        check_upsample(self.decoder_upsample, "decoder_upsample")
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
            cfg.dim_z,
            cfg.channels,
            cfg.resolution,
            cfg.conv_width,
            cfg.fc_hidden,
            upsample=cfg.decoder_upsample,
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


class RJVAE(VAEMethod):
    """The Method of RJVAE: the residual-vector VAE trained on its ELBO (R3), one Adam
    step on −(R3) per batch (:class:`~vidlib.method.VAEMethod`).

    ``nets``: ``"E"`` (:class:`RJVAEInference`, q) and ``"G"``
    (:class:`RJVAEGenerative`, p); one Adam over both (``opts["vae"]``)."""

    name = "rjvae"
    appearance_code = None  # no appearance/motion split (module docstring)
    motion_code = None

    def __init__(self, cfg: RJVAEConfig = RJVAEConfig()) -> None:
        super().__init__(cfg, RJVAEInference, RJVAEGenerative)

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
