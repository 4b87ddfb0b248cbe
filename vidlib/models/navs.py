"""NAVS: Non-Adversarial Video Synthesis with Learned Priors (Aich et al., CVPR 2020).

No discriminator. Every training video ``V_j`` owns learned latents: a static vector
``z^(s)`` (one for all frames) and a transient sequence ``z^(t) = [z_1^(t) … z_L^(t)]``;
a one-layer GRU ``R`` turns the transient sequence into correlated codes
``r_i^(t)``, and a DCGAN generator ``G`` maps each frame code ``[z^(s), r_i^(t)]`` to a
frame (Sec. 3, Eq. 2). Generator weights γ, GRU weights θ and the latents ``Z_V`` are
fitted to the training videos by regression (Sec. 3.1-3.3):

* Eq. (3): two stages per iteration, γ first (latents and θ fixed), then ``Z_V`` and
  θ (γ fixed);
* Eq. (6): ``ℓ_rec + λ_s ℓ_static + λ_t ℓ_triplet`` with the Laplacian-pyramid L1 for
  ``ℓ_rec`` and ``ℓ_static`` (one random frame) and a time-contrastive triplet loss on
  the transient codes; ℓ_triplet reaches θ and ``z^(t)`` only, never γ or ``z^(s)``;
* every latent vector is projected onto the unit ℓ2 ball after each update
  (divide by ``max(1, ‖z‖)``, as in GLO);
* Eq. (7), for frame interpolation: each ``z^(t)`` (a ``L × D_t`` matrix) is replaced by
  its best rank-ρ approximation after every update.

Which latent a video uses is a dataset label: ``static_key`` and ``transient_key`` name
the item keys that index the two tables (``"index"``: one row per video;
``"dataset"`` (:data:`WHOLE_DATASET`): one row for the whole dataset). The paper's two
layouts are ``static_key="dataset", transient_key="index"`` (Chair-CAD and Golf: one
static vector for the training set, a transient sequence per video) and
``static_key="identity", transient_key="action"`` (Weizmann: nine static vectors, ten
transient sequences).

Where the official code (abhishekaich27/Navsynth @a652f7a; reference §3) differs, this
module follows the paper: a GRU unrolled over the L frames instead of L independent
one-step GRUs, transient and static dimensions kept apart (no reshape that mixes
frames), one Adam state for the whole run instead of optimisers re-created for every
video, and checkpoints that save. Its one shared content code is the paper's Chair-CAD
layout (``static_key="dataset"``), not a departure from the paper. The triplet loss
and the optimiser differ from the official code; the chapter's Deviations list says
how (negatives, mining, distances, normalisation of r, Adam β1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from vidlib.losses import laplacian_l1, triplet_loss
from vidlib.method import SamplesFromG
from vidlib.nn import ImageGenerator

OUTPUTS = ("tanh", "linear")
SAMPLE_LATENTS = ("learned", "random")

#: the key value that indexes one row for the whole dataset (the paper's single static
#: latent on Chair-CAD and Golf); ``vidlib.data.spec.table_rows`` sizes it as 1 row
WHOLE_DATASET = "dataset"


@dataclass(frozen=True)
class NAVSConfig:
    """Sizes and settings. Defaults: 64×64×16 with the official code's latent sizes
    (D_s = 56, D_t = 200, GRU 500, DCGAN width 64, Laplacian pyramid 4 levels of a
    5×5 Gaussian with σ = 2, λ_s = λ_t = 0.01, margin 2, positives within 2 frames).
    """

    #: read only when sampling: left out of the checkpoints' config and the training
    #: key, so the −Z record names the weights of the record without it
    SAMPLING_ONLY: ClassVar[tuple[str, ...]] = ("sample_latents",)
    #: table sizes that a record may leave at 0: filled from the data by
    #: ``vidlib.record.parse_record`` (one row per value of the indexing key)
    ROWS_FROM_DATA: ClassVar[dict[str, str]] = {
        "num_static": "static_key",
        "num_transient": "transient_key",
    }

    num_static: int = 0  # rows of the static table (videos, identities, ...)
    num_transient: int = 0  # rows of the transient table
    static_key: str = "index"  # item key indexing the static table ("dataset": 1 row)
    transient_key: str = "index"  # item key indexing the transient table
    dim_z_static: int = 56  # D_s
    dim_z_transient: int = 200  # D_t
    rnn_hidden: int = 500  # GRU hidden units
    frames: int = 16  # L
    resolution: int = 64
    channels: int = 3
    ngf: int = 64  # DCGAN generator width
    lambda_static: float = 0.01  # λ_s (0 = −ℓ_static)
    lambda_triplet: float = 0.01  # λ_t (0 = −ℓ_triplet)
    triplet_margin: float = 2.0  # α of the triplet condition
    triplet_window: int = 2  # positives within this many frames, negatives beyond
    rank: int = 0  # ρ of Eq. (7); 0 = no low-rank constraint
    optimise_latents: bool = True  # False = −Z (random latents, never updated)
    pyramid_levels: int = 4
    pyramid_size: int = 5
    pyramid_sigma: float = 2.0
    lr_net: float = 6.25e-5  # Adam on G and R (official: 1e-3 · 16/256)
    # SGD on the latents, per video: a row's step is its own video's gradient at any
    # batch size (official: 200 · 16/256, with one 16-frame video per step)
    lr_latent: float = 12.5
    beta1: float = 0.5
    beta2: float = 0.999
    init_std_static: float = 1.0  # σ of the Gaussian the static latents start from
    init_std_transient: float = 1.0  # σ of the transient latents' Gaussian
    sparse_latents: bool = True  # sparse gradients: a step touches only batch rows
    output: str = "tanh"  # G's last activation: "tanh" (DCGAN) or "linear"
    # what codes() draws: "learned" table rows (+Z), or "random" new latents from the
    # tables' starting distribution (Table 4a's −Z, an evaluation-time change)
    sample_latents: str = "learned"

    def __post_init__(self) -> None:
        for name in ("num_static", "num_transient"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be >= 1, got {getattr(self, name)} (a record may"
                    " leave it at 0: the data then sizes the table)"
                )
        for size, key in self.ROWS_FROM_DATA.items():
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"{key} must name an item key of the data (e.g. 'index': one row"
                    f" per video) or be {WHOLE_DATASET!r} (one row for the whole"
                    f" dataset); got {value!r}"
                )
            if value == WHOLE_DATASET and getattr(self, size) != 1:
                raise ValueError(
                    f"{key}={WHOLE_DATASET!r} indexes one row for the whole dataset,"
                    f" so {size} must be 1 (or 0 in a record), got"
                    f" {getattr(self, size)}"
                )
        positive = ("dim_z_static", "dim_z_transient", "rnn_hidden", "frames", "ngf")
        for name in (*positive, "pyramid_levels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ValueError(
                f"resolution must be a power of two >= 16, got {self.resolution}"
            )
        if self.resolution >> self.pyramid_levels <= self.pyramid_size // 2:
            raise ValueError(
                f"pyramid_levels={self.pyramid_levels} is too many for resolution "
                f"{self.resolution} with a {self.pyramid_size}-tap Gaussian"
            )
        top = min(self.frames, self.dim_z_transient)
        if not 0 <= self.rank <= top:
            raise ValueError(
                f"rank ρ must be in [0, min(frames, dim_z_transient) = {top}] (0 = "
                f"off); got rank={self.rank} for z^(t) of shape "
                f"({self.frames}, {self.dim_z_transient})"
            )
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.triplet_window < 1:
            raise ValueError(f"triplet_window must be >= 1, got {self.triplet_window}")
        if self.sample_latents not in SAMPLE_LATENTS:
            raise ValueError(
                f"sample_latents must be one of {SAMPLE_LATENTS}, got"
                f" {self.sample_latents!r}"
            )


class LatentTable(nn.Module):
    """Learned latents ``(rows, *shape)``, each vector (last axis) in the unit ball.

    Rows start as Gaussian draws projected onto the ball. ``seen`` marks the rows
    that training has used, so sampling draws only learned entries; both are part of
    the state dict, hence of every checkpoint.
    """

    def __init__(
        self, rows: int, shape: tuple[int, ...], std: float, name: str, sparse: bool
    ) -> None:
        super().__init__()
        self.shape, self.name, self.sparse = shape, name, sparse
        weight = torch.randn(rows, math.prod(shape)) * std
        self.weight = nn.Parameter(
            project_unit_ball(weight.view(rows, *shape)).flatten(1)
        )
        self.register_buffer("seen", torch.zeros(rows, dtype=torch.bool))

    @property
    def rows(self) -> int:
        return self.weight.shape[0]

    def check(self, index: torch.Tensor) -> torch.Tensor:
        """``index`` as a long tensor, or a clear error if a row does not exist."""
        index = torch.as_tensor(index, device=self.weight.device).long()
        if index.numel() and (index.min() < 0 or index.max() >= self.rows):
            bad = index[(index < 0) | (index >= self.rows)].unique().tolist()
            raise IndexError(
                f"{self.name}: index {bad} outside the latent table of {self.rows} "
                f"rows (valid: 0..{self.rows - 1}); the table size must cover every "
                "value of the dataset key that indexes it"
            )
        return index

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` ``(B,)`` → latents ``(B, *shape)``."""
        index = self.check(index)
        rows = F.embedding(index, self.weight, sparse=self.sparse)
        return rows.view(-1, *self.shape)

    @torch.no_grad()
    def project_(self, index: torch.Tensor, rank: int = 0) -> None:
        """After an update: rows ``index`` onto rank ρ (Eq. 7, if ``rank``), then
        every vector onto the unit ball."""
        index = index.unique()
        rows = self.weight[index].view(-1, *self.shape)
        if rank:
            rows = low_rank(rows, rank)
        self.weight[index] = project_unit_ball(rows).flatten(1)


def project_unit_ball(z: torch.Tensor) -> torch.Tensor:
    """``z / max(1, ‖z‖₂)`` for each vector along the last axis (Sec. 3.3, GLO)."""
    return z / z.norm(dim=-1, keepdim=True).clamp(min=1)


def low_rank(z: torch.Tensor, rank: int) -> torch.Tensor:
    """Eq. (7): each matrix ``z^(t)`` ``(…, L, D_t)`` rebuilt from its top-ρ singular
    vectors (the best rank-ρ approximation, Eckart-Young)."""
    if not 1 <= rank <= min(z.shape[-2:]):
        raise ValueError(
            f"rank ρ={rank} must be in [1, min(L, D_t) = {min(z.shape[-2:])}] for "
            f"z^(t) of shape {tuple(z.shape[-2:])}"
        )
    u, s, vh = torch.linalg.svd(z, full_matrices=False)
    return (u[..., :rank] * s[..., None, :rank]) @ vh[..., :rank, :]


def frame_generator(cfg: NAVSConfig) -> ImageGenerator:
    """G: the DCGAN generator of the MoCoGAN chapter on ``[z^(s), r^(t)_i]``.

    ``output="linear"`` drops the final tanh (``generate`` clamps to [-1, 1]): an L1
    loss keeps pushing pixels whose target is exactly −1 (a black background) towards
    the asymptote of tanh, and its colour channels can saturate and stop learning.
    """
    generator = ImageGenerator(
        cfg.dim_z_static + cfg.dim_z_transient, cfg.resolution, cfg.ngf, cfg.channels
    )
    if cfg.output == "linear":
        generator.net[-1] = nn.Identity()
    return generator


class TransientRNN(nn.Module):
    """R: a one-layer GRU over ``z_1^(t) … z_L^(t)`` (h_0 = 0) with a linear read-out
    back to D_t (as in the official code): ``r_i^(t) = W GRU(z_i^(t), h_{i−1})``."""

    def __init__(self, dim_z_transient: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(dim_z_transient, hidden, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden, dim_z_transient)

    def forward(self, z_t: torch.Tensor) -> torch.Tensor:
        """z_t ``(B, L, D_t)`` → r ``(B, L, D_t)``."""
        hidden, _ = self.gru(z_t)
        return self.out(hidden)


def sample_triplets(
    batch: int, frames: int, window: int, gen: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Time-contrastive triplets (Sec. 3.2.1): for each video and each anchor frame
    that has a negative, a positive within ``window`` frames and a negative beyond.

    Returns ``(video, anchor, positive, negative)`` index tensors ``(K,)``; K = 0 when
    the clip is too short to have frames farther than ``window`` apart.
    """
    t = torch.arange(frames)
    gap = (t[:, None] - t[None, :]).abs()
    pos, neg = (gap > 0) & (gap <= window), gap > window
    anchors = t[neg.any(dim=1)]
    if anchors.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, empty, empty
    video = repeat(torch.arange(batch), "b -> (b a)", a=len(anchors))
    anchor = repeat(anchors, "a -> (b a)", b=batch)
    positive = torch.multinomial(pos[anchor].float(), 1, generator=gen)[:, 0]
    negative = torch.multinomial(neg[anchor].float(), 1, generator=gen)[:, 0]
    return video, anchor, positive, negative


class NAVS(SamplesFromG):
    """The Method of the paper: learned latents, GRU, generator; Eq. (3) and (6)."""

    appearance_code = "z_s"
    motion_code = "z_t"
    #: nets with one row per item, stepped on per-video sums (the Method protocol)
    item_tables = ("Z_s", "Z_t")

    def __init__(self, cfg: NAVSConfig) -> None:
        self.cfg = cfg
        trained = {k: v for k, v in asdict(cfg).items() if k not in cfg.SAMPLING_ONLY}
        self.config = {"model": "navs", **trained}
        sparse = cfg.sparse_latents
        self.nets: dict[str, nn.Module] = {
            "G": frame_generator(cfg),
            "R": TransientRNN(cfg.dim_z_transient, cfg.rnn_hidden),
            "Z_s": LatentTable(
                cfg.num_static,
                (cfg.dim_z_static,),
                cfg.init_std_static,
                f"static table (key {cfg.static_key!r})",
                sparse,
            ),
            "Z_t": LatentTable(
                cfg.num_transient,
                (cfg.frames, cfg.dim_z_transient),
                cfg.init_std_transient,
                f"transient table (key {cfg.transient_key!r})",
                sparse,
            ),
        }
        betas = (cfg.beta1, cfg.beta2)
        self.opts: dict[str, torch.optim.Optimizer] = {
            "G": torch.optim.Adam(self.nets["G"].parameters(), cfg.lr_net, betas),
            "R": torch.optim.Adam(self.nets["R"].parameters(), cfg.lr_net, betas),
        }
        if cfg.optimise_latents:
            latents = [self.nets["Z_s"].weight, self.nets["Z_t"].weight]
            self.opts["Z"] = torch.optim.SGD(latents, cfg.lr_latent)
        else:
            for name in ("Z_s", "Z_t"):
                self.nets[name].requires_grad_(False)

    # --- generation ---------------------------------------------------------------
    def render(
        self, z_s: torch.Tensor, r: torch.Tensor, generator: nn.Module | None = None
    ) -> torch.Tensor:
        """Eq. (2): frames ``G([z^(s), r_i^(t)])``; z_s ``(B, D_s)``, r ``(B, L, D_t)``
        → videos ``(B, C, L, H, W)`` in [-1, 1]."""
        generator = generator or self.nets["G"]
        t = r.shape[1]
        z = torch.cat([repeat(z_s, "b d -> b t d", t=t), r], dim=2)
        frames = generator(rearrange(z, "b t d -> (b t) d"))
        return rearrange(frames, "(b t) c h w -> b c t h w", t=t)

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Codes z_s ``(B, D_s)``, z_t ``(B, L, D_t)`` → videos ``(B, C, L, H, W)``."""
        z_s, z_t = (codes[k].to(self.device) for k in ("z_s", "z_t"))
        return self.render(z_s, self.nets["R"](z_t)).clamp(-1, 1)

    def latents(
        self, static_index: torch.Tensor, transient_index: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The learned codes of table rows (any pairing, seen together or not)."""
        with torch.no_grad():
            return {
                "z_s": self.nets["Z_s"](static_index),
                "z_t": self.nets["Z_t"](transient_index),
            }

    def codes(
        self, n: int, gen: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """New combinations: a static and a transient latent drawn independently from
        the learned rows (``seen``; all rows before training), as in Sec. 4.3. With
        ``sample_latents="random"`` (Table 4a's −Z, "randomly sampled latent vectors
        from a different distribution"): new latents from the distribution the tables
        start from, Gaussian draws projected onto the unit ball."""
        if self.cfg.sample_latents == "random":
            return {
                key: project_unit_ball(
                    torch.randn(n, *table.shape, generator=gen) * std
                ).to(self.device)
                for key, table, std in (
                    ("z_s", self.nets["Z_s"], self.cfg.init_std_static),
                    ("z_t", self.nets["Z_t"], self.cfg.init_std_transient),
                )
            }
        picks = [
            _draw_rows(self.nets[name].seen, n, gen).to(self.device)
            for name in ("Z_s", "Z_t")
        ]
        return self.latents(*picks)

    def rows(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The static and transient table rows of a batch, from its items' keys."""
        return _key(batch, self.cfg.static_key), _key(batch, self.cfg.transient_key)

    # --- training -----------------------------------------------------------------
    def loss_terms(
        self, batch: dict, *, fit_generator: bool
    ) -> dict[str, torch.Tensor]:
        """ℓ_rec, ℓ_static and ℓ_triplet of Eq. (6) for one batch.

        ``fit_generator=True`` (stage 3.1) detaches the latents and the GRU so the
        gradient reaches γ only; ``False`` (stage 3.2) lets it reach ``Z_V`` and θ.
        ℓ_triplet is a function of the transient codes r = R(z^(t)) alone.
        """
        cfg, nets = self.cfg, self.nets
        real = batch["video"]
        static_rows, transient_rows = self.rows(batch)
        z_s = nets["Z_s"](static_rows)
        r = nets["R"](nets["Z_t"](transient_rows))
        if fit_generator:
            z_s, r = z_s.detach(), r.detach()
        fake = self.render(z_s, r)
        pyramid = (cfg.pyramid_levels, cfg.pyramid_size, cfg.pyramid_sigma)
        b, t = real.shape[0], real.shape[2]
        k = torch.randint(t, (b,)).to(real.device)
        rows = torch.arange(b, device=real.device)
        terms = {
            "rec": laplacian_l1(fake, real, *pyramid),
            "static": laplacian_l1(fake[rows, :, k], real[rows, :, k], *pyramid),
        }
        terms["triplet"] = r.new_zeros(())
        if not fit_generator:
            video, anchor, pos, neg = sample_triplets(b, t, cfg.triplet_window)
            if len(video):
                terms["triplet"] = triplet_loss(
                    r[video, anchor], r[video, pos], r[video, neg], cfg.triplet_margin
                )
        return terms

    def objective(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (6): ℓ_rec + λ_s ℓ_static + λ_t ℓ_triplet."""
        cfg = self.cfg
        return (
            terms["rec"]
            + cfg.lambda_static * terms["static"]
            + cfg.lambda_triplet * terms["triplet"]
        )

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """Eq. (3): stage 1 updates γ, stage 2 updates ``Z_V`` and θ (γ fixed); then
        the touched latent rows are projected (rank ρ, unit ball). γ and θ step on the
        batch mean of Eq. (6); each latent row on its own video's loss (the per-video
        sum), so its step does not shrink as the batch grows."""
        cfg, nets, opts = self.cfg, self.nets, self.opts
        stage1 = self.loss_terms(batch, fit_generator=True)
        opts["G"].zero_grad(set_to_none=True)
        self.objective(stage1).backward()
        opts["G"].step()

        nets["G"].requires_grad_(False)
        try:
            stage2 = self.loss_terms(batch, fit_generator=False)
            second = [opts["R"], *([opts["Z"]] if "Z" in opts else [])]
            for opt in second:
                opt.zero_grad(set_to_none=True)
            self.objective(stage2).backward()
            if "Z" in opts:
                per_video_latent_gradients_(opts["Z"], len(batch["video"]))
            for opt in second:
                opt.step()
        finally:
            nets["G"].requires_grad_(True)
        for name, index in zip(("Z_s", "Z_t"), self.rows(batch), strict=True):
            nets[name].seen[index] = True
            if cfg.optimise_latents:
                nets[name].project_(index, cfg.rank if name == "Z_t" else 0)
        return {
            "rec": stage2["rec"].item(),
            "static": stage2["static"].item(),
            "triplet": stage2["triplet"].item(),
            "rec_before_g": stage1["rec"].item(),
        }


@torch.no_grad()
def per_video_latent_gradients_(latent_opt: torch.optim.Optimizer, batch: int) -> None:
    """Turn the latents' gradients of the batch mean into those of the per-video sum.

    Eq. (3.2) minimises each video's own loss ``ℓ(V_j, ·)`` over its latents ``Z_{V_j}``
    (the official code takes one video per step). The objective here is the mean over
    the B videos of a batch, so a row's gradient is 1/B of its video's; multiplying by
    B gives ``∂ Σ_j ℓ(V_j, ·)``, and an SGD step at ``lr_latent`` moves a row as far as
    its video alone would, at any batch size (a row shared by several videos of the
    batch gets the sum of their gradients). θ and γ keep the batch mean (Adam's step
    does not depend on the gradient's scale, up to its ε).
    """
    for group in latent_opt.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                p.grad.mul_(batch)


def _key(batch: dict, key: str) -> torch.Tensor:
    if key == WHOLE_DATASET:
        return torch.zeros(len(batch["video"]), dtype=torch.long)
    if key not in batch:
        raise KeyError(
            f"the batch has no key {key!r} to index a latent table; it has "
            f"{sorted(batch)} (or use {WHOLE_DATASET!r}: one row for the whole"
            " dataset)"
        )
    return torch.as_tensor(batch[key]).long()


def _draw_rows(seen: torch.Tensor, n: int, gen: torch.Generator | None) -> torch.Tensor:
    rows = seen.nonzero()[:, 0].cpu() if seen.any() else torch.arange(len(seen))
    return rows[torch.randint(len(rows), (n,), generator=gen)]
