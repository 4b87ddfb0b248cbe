"""Content and motion consistency of videos: MoCoGAN's ACD, NAVS's FCS and MCS, SSIM.

* ``acd``: MoCoGAN's Average Content Distance (Tulyakov et al. 2018, Sec. 4.1): the
  mean L2 distance between the content descriptors of the frames of one video,
  averaged over videos. On shape videos the descriptor is the shape's mean colour
  (``shape_colours``).
* ``ssim``: the structural similarity of Wang et al. (2004): 11×11 Gaussian window,
  σ = 1.5, K1 = 0.01, K2 = 0.03, population (co)variances, mean over the valid
  (uncropped-window) pixels and the channels; the same as scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, channel_axis=...)``.
* ``fcs``: NAVS's Frame Consistency Score (Aich et al. 2020, Sec. 4.2): the SSIM of
  each frame t ≥ 2 with the first frame, averaged over frames and videos.
* ``mcs``: NAVS's relative Motion Consistency Score (Sec. 4.2): log10 ‖f − f̂‖² where
  f (f̂) is the consecutive-frame feature difference φ(x_{t+1}) − φ(x_t) averaged over
  the frames and videos of the real (generated) set. The paper's φ is VGG16 at
  relu3_3 (``vidlib.metrics.extractors``); any frame-feature function can be given.
  Because the average of consecutive differences telescopes, f = E[φ(x_T) − φ(x_1)] /
  (T − 1): the score compares the sets' mean change from first to last frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from einops import rearrange

FrameFeatures = Callable[[torch.Tensor], torch.Tensor]
"""Frames ``(N, C, H, W)`` in [-1, 1] → features ``(N, D)``."""

ACD_SCALE = 255.0  # colour descriptors on the [0, 255] scale
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def _check_videos(videos: torch.Tensor, name: str = "videos") -> None:
    if videos.ndim != 5 or videos.shape[2] < 2:
        raise ValueError(
            f"{name} must be (B, C, T>=2, H, W), got shape {tuple(videos.shape)}"
        )


def _unit(videos: torch.Tensor) -> torch.Tensor:
    """[-1, 1] (every video in vidlib) → [0, 1], clamped."""
    return ((videos.float() + 1) / 2).clamp(0, 1)


def shape_colours(videos: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per-frame mean colour of the shape: ``(B, 3, T, H, W)`` → ``(B, T, 3)``, 0..255.

    The shape's pixels are the saturated ones, max(rgb) − min(rgb) > ``threshold`` on
    the [0, 1] scale (Shapes' colours are saturated, its backgrounds grey). A frame
    with no such pixel gets the descriptor (0, 0, 0), so a vanishing shape counts as
    a content change. MoCoGAN does not say how it segmented the shape [U].
    """
    _check_videos(videos)
    rgb = _unit(videos)
    mask = (rgb.amax(1) - rgb.amin(1) > threshold).float()  # (B, T, H, W)
    total = torch.einsum("bcthw,bthw->btc", rgb, mask)
    return total / mask.sum((2, 3)).clamp(min=1)[..., None] * ACD_SCALE


def acd(descriptors: torch.Tensor, pairs: str = "all") -> float:
    """Average Content Distance of ``(B, T, D)`` per-frame descriptors.

    Mean ‖d_i − d_j‖₂ over frame pairs i < j (``pairs="all"``) or consecutive frames
    (``"consecutive"``) of each video, then over videos. MoCoGAN does not say which
    pairs [U].
    """
    if descriptors.ndim != 3 or descriptors.shape[1] < 2:
        raise ValueError(
            f"descriptors must be (B, T>=2, D), got {tuple(descriptors.shape)}"
        )
    d = descriptors.double()
    if pairs == "consecutive":
        return (d[:, 1:] - d[:, :-1]).norm(dim=-1).mean().item()
    if pairs == "all":
        i, j = torch.triu_indices(d.shape[1], d.shape[1], offset=1)
        return (d[:, i] - d[:, j]).norm(dim=-1).mean().item()
    raise ValueError(f"pairs must be 'all' or 'consecutive', got {pairs!r}")


def _gaussian_band(size: int) -> torch.Tensor:
    """``(size − 10, size)`` matrix whose rows are the normalised 11-tap Gaussian
    (σ = 1.5) at each position where the window fits: a valid 1-D filtering."""
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    taps = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    taps = taps / taps.sum()
    band = torch.zeros(size - SSIM_WINDOW + 1, size, dtype=torch.float64)
    for i in range(band.shape[0]):
        band[i, i : i + SSIM_WINDOW] = taps
    return band


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM (Wang et al. 2004, Eq. 13) of images ``(N, C, H, W)`` → ``(N,)``.

    Local statistics under an 11×11 Gaussian window (σ = 1.5, applied separably in
    float64), C1 = (K1 L)², C2 = (K2 L)² with L = ``data_range``; the SSIM map over
    the positions where the window fits is averaged, then the channels. Images must
    be at least 11×11.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(
            f"ssim needs two (N, C, H, W) of one shape, got {x.shape}, {y.shape}"
        )
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"ssim needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}")
    rows = _gaussian_band(x.shape[-2]).to(x.device)
    cols = _gaussian_band(x.shape[-1]).to(x.device)

    scores = []
    for xs, ys in zip(x.double().split(64), y.double().split(64), strict=True):
        # local means of x, y, x², y², xy in one pass: (5, n, c, i, j)
        maps = rows @ (torch.stack([xs, ys, xs * xs, ys * ys, xs * ys]) @ cols.T)
        mu_x, mu_y, xx, yy, xy = maps
        var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
        c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
        ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
            (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
        )
        scores.append(ssim_map.mean((1, 2, 3)))
    return torch.cat(scores).float()


def frame_consistency(videos: torch.Tensor) -> torch.Tensor:
    """Per video ``(B,)``: mean over t ≥ 2 of SSIM(x_1, x_t) on the [0, 1] scale."""
    _check_videos(videos)
    frames = _unit(videos)
    first = frames[:, :, :1].expand_as(frames[:, :, 1:])
    flat = "b c t h w -> (b t) c h w"
    scores = ssim(rearrange(first, flat), rearrange(frames[:, :, 1:], flat))
    return rearrange(scores, "(b t) -> b t", b=videos.shape[0]).mean(1)


def fcs(videos: torch.Tensor) -> float:
    """Frame Consistency Score (NAVS Sec. 4.2): mean ``frame_consistency`` of videos."""
    return frame_consistency(videos).mean().item()


def pixel_features(frames: torch.Tensor) -> torch.Tensor:
    """The weight-free frame feature: the pixels on the [0, 1] scale, ``(N, C·H·W)``."""
    return rearrange(_unit(frames), "n c h w -> n (c h w)")


@torch.no_grad()
def mean_feature_difference(
    videos: torch.Tensor, frame_features: FrameFeatures, batch_size: int = 256
) -> torch.Tensor:
    """f = E_{videos, t} [φ(x_{t+1}) − φ(x_t)] ``(D,)`` in float64 (NAVS Sec. 4.2)."""
    _check_videos(videos)
    total = None
    for chunk in videos.split(max(1, batch_size // videos.shape[2])):
        b, t = chunk.shape[0], chunk.shape[2]
        feats = frame_features(rearrange(chunk, "b c t h w -> (b t) c h w")).double()
        feats = rearrange(feats, "(b t) d -> b t d", b=b, t=t)
        diff = (feats[:, 1:] - feats[:, :-1]).sum((0, 1))
        total = diff if total is None else total + diff
    return total / (videos.shape[0] * (videos.shape[2] - 1))


def mcs(
    fake: torch.Tensor,
    real: torch.Tensor,
    frame_features: FrameFeatures = pixel_features,
    batch_size: int = 256,
) -> float:
    """Relative Motion Consistency Score (NAVS Sec. 4.2): log10 ‖f − f̂‖₂².

    ``-inf`` when the two averaged differences are identical.
    """
    f_hat = mean_feature_difference(fake, frame_features, batch_size)
    f = mean_feature_difference(real, frame_features, batch_size)
    if f.shape != f_hat.shape:
        raise ValueError(f"feature sizes differ: real {f.shape}, fake {f_hat.shape}")
    squared = (f - f_hat).square().sum().item()
    return math.log10(squared) if squared > 0 else float("-inf")
