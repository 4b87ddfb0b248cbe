"""G3AN: Disentangling Appearance and Motion for Video Generation (Wang et al. 2020).

A video is generated from an appearance code ``z_a ~ N(0, I_128)`` and a motion code
``z_m ~ N(0, I_10)`` (a sequence of length ``T_m``; 1 for 16 frames) by a hierarchy
of N G3 modules (Sec. 3.1). Each G3_n has three streams: a spatial stream G_S
(transposed 2-D conv) that grows appearance features F_S, a temporal stream G_T
(transposed 1-D conv) that grows motion features F_T, and a video stream G_V
(transposed (1+2)D conv) whose output F_V' is fused with them (Fig. 3):

    F_V'' = F_V' + replicate_HW(F_T),   F_V = concat_C(replicate_T(F_S), F_V'').

Factorised self-attention F-SA (T-SA then S-SA) follows one level (the paper: G3_3).
Two discriminators, D_V on clips and D_I on one random frame per clip, play the DCGAN
game (Eqs. 1-4); Adam, lr 2e-4, β = (0.5, 0.999).

Where the official code (wyhsirius/g3an-project @74764fd; reference §1) differs, and
what this module does:

* F-SA there reshapes its output wrongly (``view(b, h, w, -1, t)`` of a layout that is
  not ``(b, h, w, c, t)``), which scrambles channels, time and space; here the
  attention output is rearranged back with named axes (a test checks that identity
  attention returns its input).
* D_V there is the "improved" (2+1)D network of its README; the paper's D_V is 3-D.
  Both are here (``video_discriminator``); the 3-D one is our reconstruction with
  the same widths, because the paper's supplementary material is not available.
* D_I there sees the same random frame index for the whole batch; here each clip
  gets its own random frame, as Sec. 4.1 says.
* Where the paper is silent we follow the official code: spectral norm on every G
  and D conv (``spectral_norm_g``/``_d``), BN + ReLU after every G conv, the G update
  reusing the clips of the D update, widths 512-512-256-128-64 at ``ngf=64``, and its
  weight init (``init="official"``, :func:`vidlib.nn.normal_init`): every
  (non-transposed) conv of D_V, D_I and G, i.e. to-RGB and F-SA's q, k, v, gets
  weights ~ N(0, 0.02), and every BN of G γ ~ N(1, 0.02), β = 0; G's transposed convs
  and all biases keep PyTorch's init, as there. ``init="torch"`` keeps PyTorch's init
  everywhere (the cpu profile, whose recipe was tuned with it).

The conditional variant (Sec. 4.3.2) concatenates a one-hot category to ``z_m`` at the
input of G_T only. The paper does not say how D sees the category; here D_V gets an
auxiliary classifier head (as MoCoGAN's categorical D_V), trained on real labels,
and G is trained to make it predict the category of each generated clip.

The cpu profile adds the hinge loss, two learning rates and an EMA of G; each is a
switch here and is listed in the chapter's deviations.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import repeat
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
    CONV_TYPES,
    WEIGHT_INITS,
    FactorisedSelfAttention,
    Transposed,
    check_gan_config,
    ema_update,
    matched_width,
    maybe_sn,
    normal_init,
    sample_frames,
    transposed_time_conv,
    transposed_video_conv,
    video_discriminator_frames,
)

VIDEO_DISCRIMINATORS: tuple[str, ...] = ("3d", "2+1d")


@dataclass(frozen=True)
class G3ANConfig:
    """Sizes, ablation switches and training settings; defaults are the paper's."""

    dim_z_a: int = 128  # appearance code
    dim_z_m: int = 10  # motion code (per step of its length T_m)
    frames: int = 16  # clip length = (T_m + 3 − 2·motion_crop)·2^temporal_upsamples
    resolution: int = 64  # H = W = 4·2^(N−1) for N G3 levels (64 → N = 5)
    temporal_upsamples: int = 2  # levels 1..u double T (official: 2)
    motion_crop: int = 0  # G3_0 drops p frames at each end (p_t = p; official: 0)
    channels: int = 3
    ngf: int = 64  # G width: levels have ngf·(8, 8, 4, 2, 1)
    ndf: int = 64  # D width of the first layer, doubled per layer
    conv: str = "1+2d"  # G_V transposed conv: "1+2d" (paper), "2+1d", "3d"
    match_3d_params: bool = False  # factorised G_V convs as wide as a 3-D conv
    spatial_stream: bool = True  # G_S (Table 3 ablates it)
    temporal_stream: bool = True  # G_T (Table 3 ablates it)
    fsa_position: int = 3  # F-SA after G3_n (paper: 3); -1 = no F-SA
    video_discriminator: str = "3d"  # "3d" (paper) or "2+1d" (official "improved")
    video_temporal_padding: int = 0  # D_V temporal padding (short clips need 1)
    image_frames: int = 1  # frames per clip that D_I judges (paper: 1)
    num_categories: int = 0  # > 0: conditional G3AN (Sec. 4.3.2)
    lambda_category: float = 1.0  # weight of D_V's category head
    label_key: str = "action"  # dataset label of real clips for the category head
    spectral_norm_g: bool = True  # official code: SN on every G conv
    spectral_norm_d: bool = True  # official code: SN on every D conv
    loss: str = "bce"  # "bce" (paper, DCGAN) or "hinge"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.0  # EMA of G for sampling; 0 = off (paper)
    r1_gamma: float = 0.0  # γ of a lazy R1 penalty on D_I and D_V; 0 = off (paper)
    r1_every: int = 16  # R1 on every r1_every-th D update, scaled by r1_every
    init: str = "official"  # "official": N(0, 0.02) convs, BN γ ~ N(1, 0.02); "torch"

    @property
    def levels(self) -> int:
        """N, the number of G3 modules."""
        return int(math.log2(self.resolution)) - 1

    def __post_init__(self) -> None:
        res = self.resolution
        if res < 8 or res & (res - 1):
            raise ValueError(
                "resolution must be 4·2^(N−1) for N >= 2 G3 levels, i.e. one of "
                f"8, 16, 32, 64, 128, 256; got {res}"
            )
        if not 0 <= self.motion_crop <= 3:
            raise ValueError(
                "motion_crop must be in 0..3 (G3_0's temporal kernel has 4 taps), "
                f"got {self.motion_crop}"
            )
        if not 0 <= self.temporal_upsamples < self.levels:
            raise ValueError(
                f"temporal_upsamples must be in 0..{self.levels - 1} (levels 1..N−1 "
                f"at resolution {res}), got {self.temporal_upsamples}"
            )
        z_m_length(self, self.frames)  # raises for a length the stack cannot produce
        if not -1 <= self.fsa_position < self.levels:
            raise ValueError(
                f"fsa_position must be -1 (no F-SA) or a level 0..{self.levels - 1} "
                f"(N = {self.levels} at resolution {res}), got {self.fsa_position}"
            )
        if self.conv not in CONV_TYPES:
            raise ValueError(f"conv must be one of {CONV_TYPES}, got {self.conv!r}")
        if self.init not in WEIGHT_INITS:
            raise ValueError(f"init must be one of {WEIGHT_INITS}, got {self.init!r}")
        if self.video_discriminator not in VIDEO_DISCRIMINATORS:
            raise ValueError(
                f"video_discriminator must be one of {VIDEO_DISCRIMINATORS}, "
                f"got {self.video_discriminator!r}"
            )
        check_gan_config(
            self, ("dim_z_a", "dim_z_m", "ngf", "ndf", "channels", "r1_every")
        )
        if self.num_categories and not self.temporal_stream:
            raise ValueError(
                "num_categories > 0 needs temporal_stream=True: the category enters G_T"
            )


def z_m_length(cfg: G3ANConfig, frames: int) -> int:
    """T_m of the motion code that yields ``frames`` frames: ``frames/2^u − 3 + 2p``."""
    step, shift = 2**cfg.temporal_upsamples, 3 - 2 * cfg.motion_crop
    t_m = frames // step - shift
    if frames % step or t_m < 1:
        allowed = ", ".join(
            str(step * (k + shift)) for k in range(1, 6) if k + shift > 0
        )
        raise ValueError(
            f"frames must be (T_m {'+' if shift >= 0 else '−'} {abs(shift)})·{step} "
            "for a motion-code length T_m >= 1 "
            f"(temporal_upsamples={cfg.temporal_upsamples}, "
            f"motion_crop={cfg.motion_crop}): one of {allowed}, ...; got {frames}"
        )
    return t_m


def level_geometry(cfg: G3ANConfig, n: int) -> Transposed:
    """Kernels of G3_n: 4×4 (1 → 4) at n = 0, then ×2 in space; ×2 in time for n ≤ u.

    G3_0 maps T_m → T_m + 3 − 2p (k_t = 4, stride 1, padding p = ``motion_crop``);
    levels past u keep T (k_t = 1).
    """
    if n == 0:
        return Transposed(k_t=4, k_s=4, p_t=cfg.motion_crop)
    if n <= cfg.temporal_upsamples:
        return Transposed(k_t=4, k_s=4, s_t=2, s_s=2, p_t=1, p_s=1)
    return Transposed(k_t=1, k_s=4, s_t=1, s_s=2, p_t=0, p_s=1)


def level_widths(cfg: G3ANConfig) -> list[int]:
    """Output width of every stream at each level: ngf·2^min(3, N−1−n)."""
    n_levels = cfg.levels
    return [cfg.ngf * 2 ** min(3, n_levels - 1 - n) for n in range(n_levels)]


class G3Module(nn.Module):
    """G3_n: spatial, temporal and video streams, then the spatio-temporal fusion."""

    def __init__(
        self,
        s_in: int,
        v_in: int,
        t_in: int,
        c_out: int,
        geometry: Transposed,
        cfg: G3ANConfig,
    ) -> None:
        super().__init__()
        g, sn = geometry, cfg.spectral_norm_g
        self.spatial = self.temporal = None
        if cfg.spatial_stream:
            conv2d = nn.ConvTranspose2d(s_in, c_out, g.k_s, g.s_s, g.p_s)
            self.spatial = nn.Sequential(
                maybe_sn(conv2d, sn), nn.BatchNorm2d(c_out), nn.ReLU(True)
            )
        if cfg.temporal_stream:
            self.temporal = transposed_time_conv(t_in, c_out, g, sn)
        mid = matched_width(v_in, c_out, g, cfg.conv) if cfg.match_3d_params else None
        self.video = transposed_video_conv(v_in, c_out, g, cfg.conv, mid, sn)

    def forward(
        self, f_s: torch.Tensor, f_v: torch.Tensor, f_t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """F_S ``(B, C_s, H, W)``, F_V ``(B, C_v, T, H, W)``, F_T ``(B, C_t, T)`` in;
        the same three at the next scale out (Fig. 3 fusion on F_V)."""
        f_v = self.video(f_v)  # F_V'
        t, h, w = f_v.shape[2:]
        if self.temporal is not None:
            f_t = self.temporal(f_t)
            f_v = f_v + repeat(f_t, "b c t -> b c t h w", h=h, w=w)  # F_V''
        if self.spatial is not None:
            f_s = self.spatial(f_s)
            f_v = torch.cat([repeat(f_s, "b c h w -> b c t h w", t=t), f_v], dim=1)
        return f_s, f_v, f_t


class G3ANGenerator(nn.Module):
    """G: N stacked G3 modules, F-SA on F_V after level ``fsa_position``, to-RGB."""

    def __init__(self, cfg: G3ANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = level_widths(cfg)
        s_in, t_in = cfg.dim_z_a, cfg.dim_z_m + cfg.num_categories
        v_in = cfg.dim_z_a + cfg.dim_z_m
        levels = []
        for n, c_out in enumerate(widths):
            levels.append(
                G3Module(s_in, v_in, t_in, c_out, level_geometry(cfg, n), cfg)
            )
            s_in = t_in = c_out
            v_in = c_out * (2 if cfg.spatial_stream else 1)
            if n == cfg.fsa_position:
                self.fsa = FactorisedSelfAttention(v_in, cfg.spectral_norm_g)
        self.levels = nn.ModuleList(levels)
        self.to_rgb = nn.Conv3d(v_in, cfg.channels, (1, 3, 3), padding=(0, 1, 1))
        if cfg.init == "official":  # convs (to-RGB, F-SA) and BN; not the ConvTs
            normal_init(self)

    def forward(
        self,
        z_a: torch.Tensor,
        z_m: torch.Tensor,
        category: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z_a ``(B, d_a)``, z_m ``(B, d_m, T_m)``, one-hot category ``(B, K)``.

        Returns videos ``(B, C, (T_m + 3 − 2p)·2^u, H, W)`` in [-1, 1].
        """
        cfg = self.cfg
        if z_m.ndim != 3 or z_m.shape[1] != cfg.dim_z_m or z_m.shape[2] < 1:
            raise ValueError(
                f"z_m must be (B, dim_z_m={cfg.dim_z_m}, T_m >= 1), "
                f"got shape {tuple(z_m.shape)}"
            )
        t_m = z_m.shape[2]
        f_s = z_a[:, :, None, None]
        f_v = torch.cat([repeat(z_a, "b c -> b c t", t=t_m), z_m], dim=1)
        f_v = f_v[:, :, :, None, None]
        f_t = z_m
        if cfg.num_categories:
            f_t = torch.cat([z_m, repeat(category, "b k -> b k t", t=t_m)], dim=1)
        for n, level in enumerate(self.levels):
            f_s, f_v, f_t = level(f_s, f_v, f_t)
            if n == cfg.fsa_position:
                f_v = self.fsa(f_v)
        return torch.tanh(self.to_rgb(f_v))


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, True)


def _d_widths(cfg: G3ANConfig) -> list[int]:
    """Stride-2 layers from the resolution down to 4×4: ndf, 2·ndf, 4·ndf, ..."""
    layers = int(math.log2(cfg.resolution)) - 2
    return [cfg.channels] + [cfg.ndf * 2**i for i in range(layers)]


class ImageDiscriminator(nn.Module):
    """D_I: SN Conv2d k4 s2 p1 (ndf, 2ndf, ...) with LReLU, then Conv2d k4 → 1 logit."""

    def __init__(self, cfg: G3ANConfig) -> None:
        super().__init__()
        widths, sn = _d_widths(cfg), cfg.spectral_norm_d
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            layers += [maybe_sn(nn.Conv2d(c_in, c_out, 4, 2, 1), sn), _lrelu()]
        layers.append(maybe_sn(nn.Conv2d(widths[-1], 1, 4), sn))
        self.net = nn.Sequential(*layers)
        if cfg.init == "official":
            normal_init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images ``(N, C, H, W)`` → logits ``(N,)``."""
        return self.net(images).flatten()


class VideoDiscriminator(nn.Module):
    """D_V, ``"3d"`` (paper) or ``"2+1d"`` (official "improved"), 1 + K logits.

    Per stride-2 layer, 3d: SN Conv3d k(4,4,4) s(1,2,2); 2+1d: SN Conv3d k(1,4,4)
    s(1,2,2), LReLU, SN Conv3d k(4,1,1). Head at 4×4: 3d: Conv3d k(k_t,4,4);
    2+1d: Conv3d k(1,4,4), LReLU, Conv3d k(k_t,1,1) (official widths, no BN).
    """

    def __init__(self, cfg: G3ANConfig) -> None:
        super().__init__()
        widths, sn, pad = (
            _d_widths(cfg),
            cfg.spectral_norm_d,
            cfg.video_temporal_padding,
        )
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:], strict=False):
            if cfg.video_discriminator == "3d":
                conv = nn.Conv3d(c_in, c_out, 4, (1, 2, 2), (pad, 1, 1))
                layers += [maybe_sn(conv, sn), _lrelu()]
            else:
                space = nn.Conv3d(c_in, c_out, (1, 4, 4), (1, 2, 2), (0, 1, 1))
                time = nn.Conv3d(c_out, c_out, (4, 1, 1), 1, (pad, 0, 0))
                layers += [maybe_sn(space, sn), _lrelu(), maybe_sn(time, sn), _lrelu()]
        k_t, last, outputs = (
            min(
                4,
                video_discriminator_frames(
                    cfg.frames, cfg.resolution, cfg.video_temporal_padding
                ),
            ),
            widths[-1],
            1 + cfg.num_categories,
        )
        if cfg.video_discriminator == "3d":
            layers.append(maybe_sn(nn.Conv3d(last, outputs, (k_t, 4, 4)), sn))
        else:
            layers += [
                maybe_sn(nn.Conv3d(last, last, (1, 4, 4)), sn),
                _lrelu(),
                maybe_sn(nn.Conv3d(last, outputs, (k_t, 1, 1)), sn),
            ]
        self.net = nn.Sequential(*layers)
        if cfg.init == "official":
            normal_init(self)

    def forward(self, videos: torch.Tensor) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` → ``(B, 1 + K)``: the GAN logit, then categories.

        Logits of remaining time positions are averaged.
        """
        return self.net(videos).mean(dim=(2, 3, 4))


class G3AN(SamplesFromG):
    """The Method of the paper: D_V and D_I updated on Eqs. (3)-(4), then G."""

    appearance_code = "z_a"
    motion_code = "z_m"
    category_code = "category"  # in codes() when the model is conditional

    def __init__(self, cfg: G3ANConfig = G3ANConfig()) -> None:  # noqa: B008
        self.cfg = cfg
        self.config = {"model": "g3an", **asdict(cfg)}
        self.nets: dict[str, nn.Module] = {
            "G": G3ANGenerator(cfg),
            "D_V": VideoDiscriminator(cfg),
            "D_I": ImageDiscriminator(cfg),
        }
        if cfg.ema_decay > 0:
            self.nets["G_ema"] = copy.deepcopy(self.nets["G"]).requires_grad_(False)
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {
            name: torch.optim.Adam(
                self.nets[name].parameters(),
                cfg.lr_g if name == "G" else cfg.lr_d,
                betas,
            )
            for name in ("G", "D_V", "D_I")
        }

    def codes(
        self, n: int, gen: torch.Generator | None = None, frames: int | None = None
    ) -> dict[str, torch.Tensor]:
        """z_a ``(n, d_a)``, z_m ``(n, d_m, T_m)`` and, if conditional, ``category``
        ``(n,)``; ``frames`` (default ``cfg.frames``) sets T_m (longer videos)."""
        cfg = self.cfg
        t_m = z_m_length(cfg, frames or cfg.frames)
        codes = {
            "z_a": torch.randn(n, cfg.dim_z_a, generator=gen),
            "z_m": torch.randn(n, cfg.dim_z_m, t_m, generator=gen),
        }
        if cfg.num_categories:
            codes["category"] = torch.randint(cfg.num_categories, (n,), generator=gen)
        return {k: v.to(self.device) for k, v in codes.items()}

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` of ``net``; T follows the length of z_m."""
        category = codes.get("category")
        if category is not None:
            category = F.one_hot(category.to(self.device), self.cfg.num_categories)
            category = category.float()
        return net(codes["z_a"].to(self.device), codes["z_m"].to(self.device), category)

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One update of D_V and D_I (Eqs. 3, 4), then one of G on the same clips."""
        cfg, nets, opts = self.cfg, self.nets, self.opts
        real = batch["video"]
        codes = self.codes(real.shape[0])
        fake = self._run(nets["G"], codes)
        k = cfg.image_frames

        r1_weight = lazy_r1_weight(cfg.r1_gamma, cfg.r1_every, step)
        if r1_weight:
            real = real.detach().requires_grad_(True)
        real_out, fake_out = nets["D_V"](real), nets["D_V"](fake.detach())
        d_video = discriminator_loss(real_out[:, 0], fake_out[:, 0], cfg.loss)
        real_image = nets["D_I"](sample_frames(real, k))
        d_image = discriminator_loss(
            real_image, nets["D_I"](sample_frames(fake.detach(), k)), cfg.loss
        )
        d_category = category_loss(
            real_out, batch.get(cfg.label_key), cfg.num_categories
        )
        d_r1 = real_image.new_zeros(())
        if r1_weight:
            d_r1 = r1_penalty(real_image, real) + r1_penalty(real_out[:, 0], real)
            d_r1 = r1_weight * d_r1
        opts["D_V"].zero_grad(set_to_none=True)
        opts["D_I"].zero_grad(set_to_none=True)
        (d_video + d_image + cfg.lambda_category * d_category + d_r1).backward()
        opts["D_V"].step()
        opts["D_I"].step()

        fake_out = nets["D_V"](fake)
        g_video = generator_loss(fake_out[:, 0], cfg.loss)
        g_image = generator_loss(nets["D_I"](sample_frames(fake, k)), cfg.loss)
        g_category = category_loss(fake_out, codes.get("category"), cfg.num_categories)
        opts["G"].zero_grad(set_to_none=True)
        (g_video + g_image + cfg.lambda_category * g_category).backward()
        opts["G"].step()
        if "G_ema" in nets:
            ema_update(nets["G_ema"], nets["G"], cfg.ema_decay)

        losses = dict(d_video=d_video, d_image=d_image)
        losses |= dict(g_video=g_video, g_image=g_image)
        if cfg.num_categories:
            losses |= dict(d_category=d_category, g_category=g_category)
        if r1_weight:
            losses |= dict(d_r1=d_r1)
        return {name: value.item() for name, value in losses.items()}
