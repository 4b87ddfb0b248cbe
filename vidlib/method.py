"""The Method: one paper's model and update rule, as ``fit``, the metrics and the
chapters see it.

This module is the Method's one home: the protocol, the sampling mixin for methods
that sample from a generator ``G``, the base of the sequential VAEs' Methods,
:func:`sample`, the table of the book's models (:data:`METHODS`), :func:`build` (a
Method from the ``model`` section of an experiment record) and :func:`load_trained`
(a finished run's Method at its last checkpoint). It imports no paper module at
import time: :func:`build` loads the one a record names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from vidlib import checkpoint as ckpt
from vidlib.hints import did_you_mean
from vidlib.nn import recalibrate_batchnorm, vae_init
from vidlib.results import read_results_file

#: model name in a record's ``model`` section -> (module, Method class, config class)
METHODS: dict[str, tuple[str, str, str]] = {
    "mocogan": ("vidlib.models.mocogan", "MoCoGAN", "MoCoGANConfig"),
    "g3an": ("vidlib.models.g3an", "G3AN", "G3ANConfig"),
    "navs": ("vidlib.models.navs", "NAVS", "NAVSConfig"),
    "tgan": ("vidlib.models.tgan", "TGAN", "TGANConfig"),
    "vgan": ("vidlib.models.vgan", "VGAN", "VGANConfig"),
    "avlae": ("vidlib.models.avlae", "AVLAE", "AVLAEConfig"),
    "rjgan": ("vidlib.models.residual", "RJGAN", "RJGANConfig"),
    "rmocogan": ("vidlib.models.residual", "RMoCoGAN", "RMoCoGANConfig"),
    "image_gan": ("vidlib.models.residual", "ImageGAN", "ImageGANConfig"),
    "dsa": ("vidlib.models.dsa", "DSA", "DSAConfig"),
    "rjvae": ("vidlib.models.residual", "RJVAE", "RJVAEConfig"),
}


class Method(Protocol):
    """One paper's networks, optimisers and update rule.

    ``nets`` and ``opts`` are what ``fit`` checkpoints; ``config`` is the model config
    as primitives; a paper's Method also keeps its config object as ``cfg``, from
    which ``type(method)(cfg, **needs)`` builds it again (how ``fit`` draws a run's
    initial weights from its seed); ``appearance_code`` / ``motion_code`` name the
    keys of :meth:`codes` that hold the appearance and the motion code (``None`` when
    the method has no such code); a conditional Method also names its category code
    in ``category_code`` (in :meth:`codes` when it is configured with categories),
    and a Method with an image generator on a fixed prior (the residual family's
    G_I(μ)) draws its single images with ``prior_images(n, gen)``.
    A Method may name in ``item_tables`` the nets that
    hold one row per dataset item (NAVS's latents): each is called with the rows'
    indices, every tensor of it has one row per item, its gradients are sums over the
    batch's items and ``train_step`` may edit the rows of its batch after the step;
    :mod:`vidlib.distributed` sums their gradients over the ranks and copies each
    rank's rows to the others.
    """

    nets: dict[str, nn.Module]
    opts: dict[str, torch.optim.Optimizer]
    config: dict[str, Any]
    appearance_code: str | None
    motion_code: str | None

    def train_step(self, batch: dict, step: int) -> dict[str, float]: ...

    def codes(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]: ...

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor: ...


class SamplesFromG:
    """``device``, ``generator`` and ``generate`` of a Method whose ``nets`` hold
    ``G`` (and, when it keeps an EMA of G for sampling, ``G_ema``). ``generate``
    runs the Method's ``_run(net, codes)`` on the sampling generator; a Method
    that samples otherwise overrides ``generate``."""

    nets: dict[str, nn.Module]

    def _run(self, net: nn.Module, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} defines no _run")

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Videos ``(B, C, T, H, W)`` in [-1, 1] of :attr:`generator` for ``codes``."""
        return self._run(self.generator, codes)

    @property
    def device(self) -> torch.device:
        return next(self.nets["G"].parameters()).device

    @property
    def generator(self) -> nn.Module:
        """The generator used for sampling (the EMA copy when enabled)."""
        return self.nets.get("G_ema", self.nets["G"])

    #: BN re-estimation of G_ema: batches of fresh codes, their size, their seed
    calibration = (8, 32, 0)

    def prepare_sampling(self) -> None:
        """Re-estimate G_ema's BatchNorm statistics for its averaged weights
        (:func:`~vidlib.nn.recalibrate_batchnorm`) whenever its weights changed
        since the last time; codes from a fixed seed, the global RNG untouched."""
        ema = self.nets.get("G_ema")
        if ema is None:
            return
        versions = tuple(p._version for p in ema.parameters())
        if getattr(self, "_calibrated", None) == versions:
            return
        batches, size, seed = self.calibration
        gen = torch.Generator().manual_seed(seed)
        recalibrate_batchnorm(
            ema, lambda: self._run(ema, self.codes(size, gen)), batches
        )
        self._calibrated = versions


class VAEMethod:
    """What the sequential VAEs' Methods share: ``nets`` ``"E"`` (the inference
    model q) and ``"G"`` (the generative model p), each built from the config and
    initialised by :func:`~vidlib.nn.vae_init` (E first, then G) unless ``cfg.init``
    is ``"torch"`` (PyTorch's own init), one Adam over both
    (``opts["vae"]``), and :meth:`train_step` on the negative ELBO of the paper
    module's ``elbo``; ``codes``, ``generate``, ``encode`` and ``elbo`` are the
    paper's."""

    name = ""  # the model name of ``config``

    def __init__(
        self,
        cfg: Any,
        inference: Callable[[Any], nn.Module],
        generative: Callable[[Any], nn.Module],
    ) -> None:
        self.cfg = cfg
        self.config = {"model": self.name, **asdict(cfg)}
        init = vae_init if cfg.init == "official" else (lambda net: net)
        self.nets: dict[str, nn.Module] = {
            "E": init(inference(cfg)),
            "G": init(generative(cfg)),
        }
        params = [p for net in self.nets.values() for p in net.parameters()]
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {"vae": torch.optim.Adam(params, cfg.lr, betas)}

    @property
    def device(self) -> torch.device:
        return next(self.nets["G"].parameters()).device

    def elbo(self, video: torch.Tensor) -> Any:
        """The terms of the negative ELBO per clip, with a ``loss`` property (their
        batch mean of their sum): the paper module's."""
        raise NotImplementedError(f"{type(self).__name__} defines no elbo")

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        """One Adam step on the negative ELBO, averaged over the batch's clips; the
        loss and each term's batch mean."""
        terms = self.elbo(batch["video"])
        loss = terms.loss
        self.opts["vae"].zero_grad(set_to_none=True)
        loss.backward()
        self.opts["vae"].step()
        scalars = {name: value.mean() for name, value in terms._asdict().items()}
        return {"loss": loss.item()} | {k: v.item() for k, v in scalars.items()}


@contextmanager
def eval_mode(method: Method) -> Iterator[Method]:
    """Every net of ``method`` in eval mode (BN running statistics, no spectral-norm
    power iteration), each restored to its own mode afterwards; first the Method's
    ``prepare_sampling`` when it has one (G_ema's BatchNorm re-estimation)."""
    was_training = {name: net.training for name, net in method.nets.items()}
    prepare = getattr(method, "prepare_sampling", None)
    if prepare is not None:
        prepare()
    for net in method.nets.values():
        net.eval()
    try:
        yield method
    finally:
        for name, net in method.nets.items():
            net.train(was_training[name])


@torch.no_grad()
def sample(method: Method, n: int, seed: int) -> torch.Tensor:
    """``n`` videos ``(n, C, T, H, W)`` on the CPU from codes drawn with ``seed``,
    every net in eval mode (restored afterwards); the global RNG is untouched."""
    with eval_mode(method):
        codes = method.codes(n, torch.Generator().manual_seed(seed))
        return method.generate(codes).float().cpu()


def method_classes(name: str) -> tuple[type, type]:
    """The Method class and config class of model ``name`` (see :data:`METHODS`)."""
    if name not in METHODS:
        hint = did_you_mean(name, METHODS, fmt="{!r}")
        raise ValueError(
            f"unknown model {name!r}: {hint}expected one of {sorted(METHODS)}"
        )
    module, method, config = METHODS[name]
    loaded = importlib.import_module(module)
    return getattr(loaded, method), getattr(loaded, config)


def flow_estimator(cfg: Any) -> nn.Module | None:
    """The frozen flow estimator a config names in ``flow`` (AVLAE's E_M), or None
    when its ``motion_encoder`` is off: ``"shapes"`` is the embedded estimator trained
    on Shapes' ground-truth flow (:func:`vidlib.shapes_flow.load_flow_estimator`,
    cached; ``flow_steps`` steps of training where set); ``"raft_large"`` /
    ``"raft_small"`` load RAFT from the local file in ``flow_weights``
    (:func:`vidlib.flow.raft.load_raft`), which nothing downloads."""
    if not cfg.motion_encoder:
        return None
    if cfg.flow == "shapes":
        from vidlib.shapes_flow import FlowTraining, load_flow_estimator

        steps = {} if cfg.flow_steps is None else {"steps": cfg.flow_steps}
        return load_flow_estimator(
            cfg.resolution,
            frames=cfg.frames,
            training=FlowTraining(**steps),
            progress=False,
        )
    from vidlib.flow.raft import SINTEL_FILE, WEIGHT_FILES, load_raft

    size = cfg.flow.removeprefix("raft_")
    if cfg.flow_weights is None:
        wanted = SINTEL_FILE if size == "large" else WEIGHT_FILES[size]["C_T_V2"]
        raise ValueError(
            f"model.flow {cfg.flow!r}: RAFT is unavailable without its pretrained "
            f"weights, which vidlib never downloads; set model.flow_weights to a local "
            f"copy of torchvision's {wanted} (or model.flow: shapes, the embedded "
            "estimator)"
        )
    return load_raft(cfg.flow_weights, size)


def untrained_flow_estimator(cfg: Any) -> nn.Module | None:
    """The architecture of the estimator ``cfg.flow`` names, untrained (None without
    the motion encoder): what checks, parameter counts and dry runs need."""
    if not cfg.motion_encoder:
        return None
    if cfg.flow == "shapes":
        from vidlib.shapes_flow import FlowTraining

        return FlowTraining().network()
    from vidlib.flow.raft import raft

    return raft(cfg.flow.removeprefix("raft_"))


#: what a Method's constructor takes besides its config, by the name in its
#: ``needs``: (the trained resource, its untrained architecture)
RESOURCES = {"flow": (flow_estimator, untrained_flow_estimator)}


def build(
    model: Mapping[str, Any], *, untrained: bool = False, **resources: Any
) -> Method:
    """The Method for a record's ``model`` section ``{"name": ..., **config}``.

    A Method class whose ``needs`` names more than the config (AVLAE: ``flow``) gets
    each from :data:`RESOURCES` unless given here: trained (loaded or trained and
    cached) or, with ``untrained``, only its architecture (for dry runs on the meta
    device and config checks, which must not train anything)."""
    fields = dict(model)
    method_class, config_class = method_classes(fields.pop("name", None))
    cfg = config_class(**fields)
    for name in getattr(method_class, "needs", ()):
        if name not in resources:
            resources[name] = RESOURCES[name][untrained](cfg)
    return method_class(cfg, **resources)


def load_trained(run_dir: str | Path) -> tuple[Method, int, dict[str, Any]]:
    """The Method of the finished experiment in ``run_dir`` at its last checkpoint,
    that step, and the run's results record.

    Raises ``ValueError`` naming the folder when it has no ``results.json``, the
    results hold no experiment record, or the record's checkpoint folder is empty.
    """
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    if not path.is_file():
        raise ValueError(f"{path} not found: run that experiment first")
    results = read_results_file(path)
    record = results.get("record")
    if not isinstance(record, Mapping) or "model" not in record:
        raise ValueError(f"{path} holds no experiment record with a 'model' section")
    folder = run_dir / results.get("artifacts", {}).get("train_dir", "")
    saved = ckpt.list_checkpoints(folder / "checkpoints")
    if not saved:
        raise ValueError(f"{folder / 'checkpoints'} holds no checkpoint")
    step, checkpoint = saved[-1]
    method = build(record["model"])
    payload = ckpt.load_checkpoint(checkpoint)
    ckpt.check_same_keys("nets", payload["nets"], method.nets, checkpoint)
    for name, net in method.nets.items():
        ckpt.load_state(net, payload["nets"][name], checkpoint, name)
    return method, step, results
