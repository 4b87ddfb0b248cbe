"""Losses shared by the models of the book.

GAN objectives take discriminator logits (any shape; every element is one decision)
and return a scalar mean.

* ``"bce"`` — the minimax objective of Goodfellow et al. (2014), Eq. (1), which
  MoCoGAN sums over its two discriminators as F_V (Tulyakov et al. 2018); the
  generator uses the non-saturating form −log D(G(z)) that Goodfellow et al.
  recommend in Sec. 3.
* ``"minimax"`` — the same D loss, and the generator minimises Eq. (1) itself,
  E[log(1 − D(G(z)))] (saturating), as AVLAE's Alg. 1 writes its generator loss.
* ``"hinge"`` — the hinge objective of Lim & Ye (2017) / Miyato et al. (2018), used
  only by the cpu profile to make a GAN learn in minutes (listed as a deviation).
* ``"wgan"`` — the Wasserstein objective of Arjovsky et al. (2017), Eq. (3), that TGAN
  (Saito et al. 2017) trains with: D is a critic whose scores are not logits, and the
  objective estimates W(P_r, P_g) only while D is 1-Lipschitz, which the model must
  enforce (TGAN: singular value clipping).

The VAEs' ELBO terms (DSA, RJVAE) are the closed-form KL of diagonal Gaussians
(:func:`kl_diag_gaussians`, :func:`kl_to_isotropic`) and the log-likelihood of a
Gaussian with fixed variance (:func:`gaussian_log_likelihood`).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange

GANLoss = Literal["bce", "hinge", "wgan", "minimax"]
GAN_LOSSES: tuple[str, ...] = ("bce", "hinge", "wgan", "minimax")


def _check_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: GANLoss = "bce"
) -> torch.Tensor:
    """Discriminator loss on logits of real and generated samples.

    bce, minimax: −E[log σ(D(x))] − E[log(1 − σ(D(G(z))))]   (Goodfellow et al.
                   2014, Eq. 1)
    hinge: E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]
    wgan:  E[D(G(z))] − E[D(x)]   (the critic maximises Arjovsky et al. 2017, Eq. 3)
    """
    _check_kind(kind)
    if kind in ("bce", "minimax"):
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "wgan":
        return fake_logits.mean() - real_logits.mean()
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: GANLoss = "bce") -> torch.Tensor:
    """Generator loss on logits of generated samples.

    bce:     −E[log σ(D(G(z)))]   (non-saturating, Goodfellow et al. 2014, Sec. 3)
    minimax: E[log(1 − σ(D(G(z))))] = −E[softplus(D(G(z)))]   (Eq. 1, saturating)
    hinge, wgan: −E[D(G(z))]   (wgan: G minimises Arjovsky et al. 2017, Eq. 3)
    """
    _check_kind(kind)
    if kind == "bce":
        return F.softplus(-fake_logits).mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    return -fake_logits.mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Zero-centred gradient penalty on real data (Mescheder et al. 2018, Eq. 9
    without γ/2): ``E_x ||∇_x D(x)||²``, the squared gradient norm of the summed
    logits over each sample's input, averaged over the batch. ``real`` must require
    grad and ``real_logits`` be computed from it; the graph is kept for backward."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def lazy_r1_weight(gamma: float, every: int, step: int) -> float:
    """Weight of the R1 term at ``step`` when it is applied lazily (StyleGAN2,
    Karras et al. 2020, Sec. 4): ``γ/2 · every`` on every ``every``-th D update, so
    its average matches ``γ/2`` at every step; 0 on the others and when γ is 0."""
    return gamma / 2 * every if gamma > 0 and step % every == 0 else 0.0


def category_loss(
    logits: torch.Tensor, labels: torch.Tensor | None, categories: int
) -> torch.Tensor:
    """Cross-entropy of a video discriminator's category head, ``logits[:, 1:]``
    (``logits[:, 0]`` is the GAN logit), against ``labels``; 0 when the model is
    unconditional (``categories == 0``) or the batch has no labels.

    MoCoGAN's InfoGAN term L_I (Tulyakov et al. 2018, Sec. 3.1) is this loss; our
    conditional G3AN (Sec. 4.3.2, which does not say how D sees the category) uses
    it the same way.
    """
    if not categories or labels is None:
        return logits.new_zeros(())
    return F.cross_entropy(logits[:, 1:].float(), labels.to(logits.device).long())


def gaussian_kernel(size: int = 5, sigma: float = 2.0) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel ``(size, size)`` (separable outer product)."""
    if size < 1 or size % 2 == 0 or sigma <= 0:
        raise ValueError(
            f"gaussian kernel needs an odd size >= 1 and sigma > 0, got "
            f"size={size}, sigma={sigma}"
        )
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = torch.outer(g, g)
    return (kernel / kernel.sum()).float()


def laplacian_pyramid(
    images: torch.Tensor, levels: int = 4, size: int = 5, sigma: float = 2.0
) -> list[torch.Tensor]:
    """Laplacian pyramid of images ``(N, C, H, W)``: ``levels`` band-pass images
    ``L^l = G^l − blur(G^l)`` with ``G^{l+1} = avgpool_2(blur(G^l))``, then the
    low-pass residual ``G^levels`` (the pyramid of Bojanowski et al. 2018's GLO code,
    used by NAVS); blur is a Gaussian ``size``×``size``, reflect-padded.
    """
    n_channels = images.shape[1]
    kernel = gaussian_kernel(size, sigma).to(images)
    kernel = kernel.expand(n_channels, 1, size, size)
    pad = size // 2
    pyramid, current = [], images
    for _ in range(levels):
        if min(current.shape[-2:]) <= pad:
            raise ValueError(
                f"{levels} pyramid levels need images larger than {images.shape[-2:]}"
            )
        padded = F.pad(current, (pad, pad, pad, pad), mode="reflect")
        blurred = F.conv2d(padded, kernel, groups=n_channels)
        pyramid.append(current - blurred)
        current = F.avg_pool2d(blurred, 2)
    pyramid.append(current)
    return pyramid


def laplacian_l1(
    fake: torch.Tensor,
    real: torch.Tensor,
    levels: int = 4,
    size: int = 5,
    sigma: float = 2.0,
) -> torch.Tensor:
    """Laplacian-pyramid L1 loss of NAVS Sec. 4.2 (GLO's Lap_1):

        L_Laplacian(v, v̂) = Σ_l 2^{2l} |L^l(v) − L^l(v̂)|_1,

    normalised by the number of elements of the input, so each level contributes
    its per-pixel mean (level l has 4^{-l} of the pixels). Images ``(N, C, H, W)``
    or videos ``(B, C, T, H, W)`` (every frame is one image).
    """
    if fake.shape != real.shape:
        raise ValueError(f"shapes differ: fake {fake.shape}, real {real.shape}")
    if fake.dim() == 5:
        fake, real = (rearrange(v, "b c t h w -> (b t) c h w") for v in (fake, real))
    numel = fake.numel()
    loss = fake.new_zeros(())
    pairs = zip(
        laplacian_pyramid(fake, levels, size, sigma),
        laplacian_pyramid(real, levels, size, sigma),
        strict=True,
    )
    for level, (a, b) in enumerate(pairs):
        loss = loss + 4**level * (a - b).abs().sum() / numel
    return loss


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    margin: float,
) -> torch.Tensor:
    """Triplet loss of NAVS Eq. (6), mean over triplets ``(K, D)``:

    ℓ_triplet = max(‖z^a − z^p‖²₂ + α − ‖z^a − z^n‖²₂, 0).
    """
    closer = (anchor - positive).pow(2).sum(dim=-1)
    farther = (anchor - negative).pow(2).sum(dim=-1)
    return F.relu(closer + margin - farther).mean()


def kl_diag_gaussians(
    mean_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mean_p: torch.Tensor,
    logvar_p: torch.Tensor,
) -> torch.Tensor:
    """KL(q ‖ p) of two diagonal Gaussians in closed form, summed over the last axis:

        KL = ½ Σ_j [log σ²_p,j − log σ²_q,j + (σ²_q,j + (m_q,j − m_p,j)²) / σ²_p,j − 1].

    Means and log-variances broadcast against each other; ``(..., D)`` → ``(...)``,
    in float32 (or wider) whatever the autocast dtype. The KL terms of the VAEs'
    ELBOs (DSA's f and z, RJVAE's μ and δ) are this.
    """
    mean_q, logvar_q, mean_p, logvar_p = (
        v.float() for v in (mean_q, logvar_q, mean_p, logvar_p)
    )
    ratio = (logvar_q - logvar_p).exp()
    gap = (mean_q - mean_p).square() * (-logvar_p).exp()
    return 0.5 * (ratio + gap - 1 - (logvar_q - logvar_p)).sum(-1)


def kl_to_isotropic(
    mean: torch.Tensor, logvar: torch.Tensor, sigma: float = 1.0
) -> torch.Tensor:
    """KL(N(mean, diag e^logvar) ‖ N(0, σ²I)) in closed form, summed over the last
    axis: :func:`kl_diag_gaussians` with m_p = 0, log σ²_p = 2 log σ. ``(..., D)`` →
    ``(...)``."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    zero = torch.zeros((), device=mean.device)
    return kl_diag_gaussians(mean, logvar, zero, zero + 2 * math.log(sigma))


def diag_gaussian_log_density(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, diag e^logvar), summed over the last axis:
    −½ Σ_j [log 2π + log σ²_j + (x_j − m_j)² / σ²_j]. ``(..., D)`` → ``(...)``."""
    x, mean, logvar = (v.float() for v in (x, mean, logvar))
    sq = (x - mean).square() * (-logvar).exp()
    return -0.5 * (math.log(2 * math.pi) + logvar + sq).sum(-1)


def gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, var: float
) -> torch.Tensor:
    """log p(x) of every sample of a batch under N(mean, var·I), a fixed variance:
    −Σ (x − mean)² / (2 var) − ½ N log(2π var), summed over every axis but the
    first (N values per sample). ``(B, ...)`` → ``(B,)``. With var = ½ it is
    −(sum of squared errors) − const, the reconstruction term of the DSA
    re-implementations' loss."""
    if var <= 0:
        raise ValueError(f"var must be > 0, got {var}")
    sse = (x.float() - mean.float()).square().flatten(1).sum(1)
    n = x[0].numel()
    return -sse / (2 * var) - 0.5 * n * math.log(2 * math.pi * var)
