"""MoCoGAN: Decomposing Motion and Content for Video Generation (Tulyakov et al. 2018).

A video is a path in the image latent space. Each frame's latent is
``z^(k) = [z_C, z_M^(k)]`` (Sec. 3): a content code ``z_C ~ N(0, I)`` drawn once per
video and a motion code ``z_M^(k)`` produced by a one-layer GRU ``R_M`` fed with
``ε^(k) ~ N(0, I)`` at each step. An image generator ``G_I`` maps every frame latent
to a frame. Two discriminators judge the result: ``D_I`` one random frame ``S_1(v)``
and ``D_V`` the clip ``S_T(v)``; the objective F_V sums the two GAN games,

    F_V = E_v[−log D_I(S_1(v))] + E_ṽ[−log(1 − D_I(S_1(ṽ)))]
        + E_v[−log D_V(S_T(v))] + E_ṽ[−log(1 − D_V(S_T(ṽ)))].

The action-conditioned variant (Sec. 3.1, "categorical dynamics") adds a one-hot
category ``z_A`` to the input of ``R_M`` and an InfoGAN term ``λ L_I`` whose classifier
``Q`` shares all but the last layer of ``D_V``. Optimiser (implementation details):
Adam, lr 2e-4, β = (0.5, 0.999), weight decay 1e-5.

Where the official code (sergeytulyakov/mocogan @937a99d; reference §2) differs and
what this module does:

* z_A is concatenated to the GRU *output* there (author, mocogan#13); here it is fed
  into the GRU as the paper says.
* D_V strides are (1, 2, 2) with no temporal padding there, while the supplement gives
  equal strides; the author says the code produced the paper's results (mocogan#9), so
  we follow the code and make the temporal padding a knob for short clips.
* There D_I sees frames of *other* videos sampled separately; here S_1 takes one random
  frame of each clip, as in F_V.
* Instance noise (``--use_noise``) and the data loader's hard-coded frame stride of 2
  are not part of the paper and are not reproduced.
* With categories, D_V's category head Q learns from the generated clips' codes z_A
  (the InfoGAN term L_I in D's loss, as InfoGAN trains Q on generated samples) and
  from the real clips' labels. The official code trains the head on real labels only
  (``--use_categories``) and puts L_I on generated clips into G's loss alone. Kept
  while the chapters' runs are compared; ``tests/test_mocogan.py`` pins it, so a
  change to the official form is deliberate.

The cpu profile adds training settings the paper does not use (two learning rates,
an EMA of G, R1) to make the GAN learn in minutes; each is a switch here and is
listed in the chapter's deviations.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from vidlib.losses import (
    category_loss,
    discriminator_loss,
    generator_loss,
    lazy_r1_weight,
    r1_penalty,
)
from vidlib.method import SamplesFromG
from vidlib.nn import (
    ImageGenerator,
    MotionGRU,
    PatchImageDiscriminator,
    PatchVideoDiscriminator,
    check_gan_config,
    check_upsample,
    ema_update,
    sample_frames,
)


@dataclass(frozen=True)
class MoCoGANConfig:
    """Sizes and training settings; the defaults are the paper's (64×64×16)."""

    dim_z_content: int = 50  # d_C
    dim_z_motion: int = 10  # d_M (also the size of ε and of the GRU state)
    dim_z_category: int = 0  # d_A; 0 = unconditional
    frames: int = 16  # T of the clips D_V judges
    resolution: int = 64  # H = W, a power of two ≥ 16
    channels: int = 3
    ngf: int = 64  # G_I width (last hidden layer)
    ndf: int = 64  # D_I / D_V width (first layer)
    image_upsample: str = "transposed"  # G_I's 2× layers (paper), or "nearest"
    video_temporal_padding: int = 0  # D_V temporal padding (official: 0)
    image_frames: int = 1  # frames S_1 draws from each clip for D_I (paper: 1)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-5
    loss: str = "bce"  # "bce" (paper) or "hinge"
    spectral_norm: bool = False  # SN on D_I/D_V (replaces their BatchNorm)
    ema_decay: float = 0.0  # EMA of G for sampling; 0 = off (paper)
    r1_gamma: float = 0.0  # γ of a lazy R1 penalty on D_I and D_V; 0 = off (paper)
    r1_every: int = 16  # R1 on every r1_every-th D update, scaled by r1_every
    lambda_info: float = 1.0  # λ of the InfoGAN term (categorical variant only)
    label_key: str = "action"  # dataset label supervising D_V's category head on reals

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ValueError(
                f"resolution must be a power of two >= 16, got {self.resolution}"
            )
        positive = ("dim_z_content", "dim_z_motion", "frames", "ngf", "ndf", "r1_every")
        check_gan_config(self, positive)
        check_upsample(self.image_upsample)


class VideoGenerator(nn.Module):
    """G = G_I ∘ [z_C, R_M]: content fixed over time, motion from the GRU (Sec. 3.1)."""

    def __init__(self, cfg: MoCoGANConfig) -> None:
        super().__init__()
        self.motion = MotionGRU(cfg.dim_z_motion, cfg.dim_z_motion, cfg.dim_z_category)
        self.image = ImageGenerator(
            cfg.dim_z_content + cfg.dim_z_motion,
            cfg.resolution,
            cfg.ngf,
            cfg.channels,
            upsample=cfg.image_upsample,
        )

    def forward(
        self, z_C: torch.Tensor, eps: torch.Tensor, z_A: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Codes z_C ``(B, d_C)``, eps ``(B, T+1, d_M)``, z_A ``(B, d_A)``.

        Returns videos ``(B, C, T, H, W)`` in [-1, 1].
        """
        z_M = self.motion(eps[:, 1:], eps[:, 0], z_A)  # R_M, h^(0) = eps[:, 0]
        t = z_M.shape[1]
        z = torch.cat([repeat(z_C, "b d -> b t d", t=t), z_M], dim=2)
        frames = self.image(rearrange(z, "b t d -> (b t) d"))
        return rearrange(frames, "(b t) c h w -> b c t h w", t=t)


class MoCoGAN(SamplesFromG):
    """The Method of the paper (Algorithm of Sec. 3: alternating D and G updates)."""

    appearance_code = "z_C"
    motion_code = "eps"
    category_code = "z_A"  # in codes() when the model is conditional

    def __init__(self, cfg: MoCoGANConfig = MoCoGANConfig()) -> None:
        self.cfg = cfg
        self.config = {"model": "mocogan", **asdict(cfg)}
        self.nets: dict[str, nn.Module] = {
            "G": VideoGenerator(cfg),
            "D_I": PatchImageDiscriminator(cfg.channels, cfg.ndf, cfg.spectral_norm),
            "D_V": PatchVideoDiscriminator(
                cfg.channels,
                cfg.ndf,
                cfg.resolution,
                cfg.frames,
                cfg.video_temporal_padding,
                cfg.dim_z_category,
                cfg.spectral_norm,
            ),
        }
        if cfg.ema_decay > 0:
            self.nets["G_ema"] = copy.deepcopy(self.nets["G"]).requires_grad_(False)
        betas = (cfg.beta1, cfg.beta2)

        def adam(name: str, lr: float) -> torch.optim.Adam:
            params = self.nets[name].parameters()
            return torch.optim.Adam(params, lr, betas, weight_decay=cfg.weight_decay)

        self.opts = {
            "G": adam("G", cfg.lr_g),
            "D_I": adam("D_I", cfg.lr_d),
            "D_V": adam("D_V", cfg.lr_d),
        }

    def codes(
        self, n: int, gen: torch.Generator | None = None, frames: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Codes z_C ``(n, d_C)``, eps ``(n, T+1, d_M)``, z_A ``(n,)``.

        ``eps[:, 0]`` is the GRU's initial state h^(0); T defaults to ``cfg.frames``.
        """
        cfg, t = self.cfg, frames or self.cfg.frames
        codes = {
            "z_C": torch.randn(n, cfg.dim_z_content, generator=gen),
            "eps": torch.randn(n, t + 1, cfg.dim_z_motion, generator=gen),
        }
        if cfg.dim_z_category:
            codes["z_A"] = torch.randint(cfg.dim_z_category, (n,), generator=gen)
        return {k: v.to(self.device) for k, v in codes.items()}

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` of ``net``; T follows the length of ``eps``."""
        z_A = codes.get("z_A")
        one_hot = (
            None if z_A is None else F.one_hot(z_A, self.cfg.dim_z_category).float()
        )
        return net(codes["z_C"].to(self.device), codes["eps"].to(self.device), one_hot)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One D update (D_I and D_V on F_V) then one G update on fresh samples."""
        cfg, nets, opts = self.cfg, self.nets, self.opts
        real = batch["video"]
        b = real.shape[0]

        codes = self.codes(b)
        with torch.no_grad():
            fake = self._run(nets["G"], codes)
        k = cfg.image_frames
        r1_weight = lazy_r1_weight(cfg.r1_gamma, cfg.r1_every, step)
        if r1_weight:
            real = real.detach().requires_grad_(True)
        real_image = nets["D_I"](sample_frames(real, k))
        d_image = discriminator_loss(
            real_image, nets["D_I"](sample_frames(fake, k)), cfg.loss
        )
        real_out, fake_out = nets["D_V"](real), nets["D_V"](fake)
        d_video = discriminator_loss(real_out[:, 0], fake_out[:, 0], cfg.loss)
        d_info = category_loss(
            fake_out, codes.get("z_A"), cfg.dim_z_category
        ) + category_loss(real_out, batch.get(cfg.label_key), cfg.dim_z_category)
        d_r1 = real_image.new_zeros(())
        if r1_weight:
            d_r1 = r1_penalty(real_image, real) + r1_penalty(real_out[:, 0], real)
            d_r1 = r1_weight * d_r1
        opts["D_I"].zero_grad(set_to_none=True)
        opts["D_V"].zero_grad(set_to_none=True)
        (d_image + d_video + cfg.lambda_info * d_info + d_r1).backward()
        opts["D_I"].step()
        opts["D_V"].step()

        codes = self.codes(b)
        fake = self._run(nets["G"], codes)
        fake_out = nets["D_V"](fake)
        g_image = generator_loss(nets["D_I"](sample_frames(fake, k)), cfg.loss)
        g_video = generator_loss(fake_out[:, 0], cfg.loss)
        g_info = category_loss(fake_out, codes.get("z_A"), cfg.dim_z_category)
        opts["G"].zero_grad(set_to_none=True)
        (g_image + g_video + cfg.lambda_info * g_info).backward()
        opts["G"].step()
        self._update_ema()

        losses = dict(d_image=d_image, d_video=d_video)
        losses |= dict(g_image=g_image, g_video=g_video)
        if cfg.dim_z_category:
            losses |= dict(d_info=d_info, g_info=g_info)
        if r1_weight:
            losses |= dict(d_r1=d_r1)
        return {name: value.item() for name, value in losses.items()}

    def _update_ema(self) -> None:
        if "G_ema" in self.nets:
            ema_update(self.nets["G_ema"], self.nets["G"], self.cfg.ema_decay)
