"""Losses shared by the models of the book.

GAN objectives take discriminator logits (any shape; every element is one decision)
and return a scalar mean.

* ``"bce"`` — the minimax objective of Goodfellow et al. (2014), Eq. (1), which
  MoCoGAN sums over its two discriminators as F_V (Tulyakov et al. 2018); the
  generator uses the non-saturating form −log D(G(z)) that Goodfellow et al.
  recommend in Sec. 3.
* ``"hinge"`` — the hinge objective of Lim & Ye (2017) / Miyato et al. (2018), used
  only by the cpu profile to make a GAN learn in minutes (listed as a deviation).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

GANLoss = Literal["bce", "hinge"]
GAN_LOSSES: tuple[str, ...] = ("bce", "hinge")


def _check_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}; expected one of {GAN_LOSSES}")


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: GANLoss = "bce"
) -> torch.Tensor:
    """Discriminator loss on logits of real and generated samples.

    bce:   −E[log σ(D(x))] − E[log(1 − σ(D(G(z))))]   (Goodfellow et al. 2014, Eq. 1)
    hinge: E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]
    """
    _check_kind(kind)
    if kind == "bce":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: GANLoss = "bce") -> torch.Tensor:
    """Generator loss on logits of generated samples.

    bce:   −E[log σ(D(G(z)))]   (non-saturating, Goodfellow et al. 2014, Sec. 3)
    hinge: −E[D(G(z))]
    """
    _check_kind(kind)
    if kind == "bce":
        return F.softplus(-fake_logits).mean()
    return -fake_logits.mean()
