"""Training in several processes: what :func:`vidlib.train.fit` adds when
``torchrun --nproc-per-node N`` starts it in N processes (ranks).

The aim is that N ranks compute, up to float rounding, what one process computes on
the same global batch, with no paper module aware of the ranks:

* **data**: each rank takes its contiguous share of the global batch that one
  process would draw at that step (:meth:`Ranks.share`); ``batch_size`` must be a
  multiple of N;
* **gradients**: before every optimiser step the gradients of its parameters are
  averaged over the ranks by an all-reduce (a step pre-hook on each optimiser that
  ``fit`` trains with), so every Method's ``train_step`` runs unchanged, however many
  optimisers it steps in whatever order. A loss that is a mean over the local batch
  then has the gradient of the mean over the global batch (the shares are equal).
  Wrapping each net in ``DistributedDataParallel`` would instead all-reduce in
  ``backward``, which some Methods call with ``inputs=`` or several times per step;
* **random draws**: inside ``train_step`` a draw from the global RNG (``torch.randn``,
  ``rand``, ``randint``, ``randn_like``, ``rand_like``, ``multinomial``) whose
  leading dimension is a multiple of the local batch draws for the global batch, as
  one process would, and keeps this rank's rows. So every rank consumes the global
  RNG as one process does (its state stays that of one process, which is what a
  checkpoint saves) and each item gets the noise it gets in one process. Another draw
  (a scalar, or a leading dimension that is not a multiple of the local batch) is the
  same on every rank, as in one process; other random functions (dropout,
  ``bernoulli``, in-place ``normal_``) are not split and draw alike on every rank;
* **BatchNorm**: inside ``train_step`` every batch-statistics BatchNorm
  (``F.batch_norm`` with ``training=True``: in the book, each net's BatchNorm while
  it trains, e.g. MoCoGAN's G and its D_I/D_V without spectral norm, NAVS's G)
  normalises with the mean and variance of the global batch, as SyncBatchNorm would,
  and its running statistics follow them. ``torch.nn.SyncBatchNorm`` refuses CPU
  tensors (torch 2.13) and would also sync outside the step, where rank 0 alone
  samples and re-estimates G_ema's statistics; this one is the sum and the centred
  sum of squares all-reduced, differentiably. Nothing else in the book's models
  couples the items of a batch: their losses are batch means (equal shares, so the
  averaged gradient is the global one) and none has a minibatch-std layer;
* **item tables**: the nets a Method names in ``item_tables`` (NAVS's latent tables
  ``Z_s``, ``Z_t``) hold one row per dataset item; their gradients are per-item sums
  (NAVS scales the batch mean by the batch size), so the ranks add them instead of
  averaging, and every rank takes the same step. A rank edits after the step only the
  rows of its own share (NAVS projects them and marks them ``seen``); those rows are
  then copied from the rank that owns them, so every rank holds the same tables;
* **scalars**: the logged scalars are the mean over the ranks (each is a batch mean).

Rank 0 alone writes (checkpoints, samples, scalars, results). The process group
(gloo on the CPU, NCCL on CUDA with rank r on ``cuda:LOCAL_RANK``) is joined once per
process and left at its exit: joining the default group again in one process raced
on torchrun's rendezvous keys (gloo, torch 2.13). A collective that fails (a rank
died: its connection closes at once; or hung past :data:`TIMEOUT`) raises
:class:`PeerFailed`; torchrun then stops the other ranks and names the failed one.
"""

from __future__ import annotations

import atexit
import inspect
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

#: how long a collective waits for the other ranks: longer than rank 0's checkpoint
#: and sample grid, which the others wait for at their next all-reduce
TIMEOUT = timedelta(minutes=10)


class PeerFailed(RuntimeError):
    """A collective across the ranks failed: another rank stopped or hung."""


@dataclass(frozen=True)
class Ranks:
    """The processes one run trains in: ``world`` of them, this one ``rank`` (on
    ``local_rank`` of its machine). The default is one process."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
        """The ranks torchrun set in the environment (``WORLD_SIZE``, ``RANK``,
        ``LOCAL_RANK``); one process without them."""
        env = os.environ
        if "WORLD_SIZE" not in env:
            return cls()
        return cls(int(env["WORLD_SIZE"]), int(env["RANK"]), int(env["LOCAL_RANK"]))

    @property
    def main(self) -> bool:
        """Whether this rank writes (rank 0)."""
        return self.rank == 0

    def check(self, batch_size: int, data: Any) -> None:
        """ValueError unless the global batch splits into equal shares of plain
        batches."""
        if self.world == 1:
            return
        if batch_size % self.world:
            raise ValueError(
                f"train.batch_size {batch_size} is not a multiple of the world size "
                f"{self.world} (torchrun --nproc-per-node): each rank trains on an "
                "equal share of the global batch"
            )
        if getattr(data, "collate_fn", None) is not None:
            raise ValueError(
                f"{type(data).__name__} collates its own batches (as mixed images and "
                f"videos), which do not split into equal shares for {self.world} "
                "ranks; train it in one process"
            )

    def local_device(self, device: torch.device) -> torch.device:
        """Where this rank trains when asked for ``device``: with several ranks on
        CUDA, ``cuda:LOCAL_RANK`` (one GPU per rank)."""
        if self.world > 1 and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def share(self, indices: list[int]) -> list[int]:
        """This rank's contiguous share of the global batch ``indices``."""
        size = len(indices) // self.world
        return indices[self.rank * size : (self.rank + 1) * size]


class Replicas:
    """``fit``'s loop across the ranks: ``with Replicas(...)`` joins the process
    group, starts every rank from rank 0's weights and averages the gradients before
    each optimiser step; :meth:`step` wraps one ``train_step``, :meth:`mean` its
    scalars. In one process it does nothing, so a run there is unchanged."""

    def __init__(
        self, ranks: Ranks, method: Any, batch_size: int, device: torch.device
    ) -> None:
        self.ranks, self.method, self.device = ranks, method, device
        self.local_batch = batch_size // ranks.world
        self.tables = {
            name: method.nets[name] for name in getattr(method, "item_tables", ())
        }
        self.summed = {id(p) for net in self.tables.values() for p in net.parameters()}
        self.handles: list[Any] = []

    def __enter__(self) -> Replicas:
        if self.ranks.world == 1:
            return self
        _join(self.device)
        with torch.no_grad():
            for net in self.method.nets.values():
                for tensor in (*net.parameters(), *net.buffers()):
                    _collective(dist.broadcast, tensor, 0)
        for opt in self.method.opts.values():
            self.handles.append(opt.register_step_pre_hook(self._reduce_gradients))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    @contextmanager
    def step(self) -> Iterator[None]:
        """One ``train_step`` computing its share of the global batch's step (the
        module docstring); then the item tables agree again."""
        if self.ranks.world == 1:
            yield
            return
        touched = {name: [] for name in self.tables}
        recorders = [
            net.register_forward_pre_hook(_recorder(touched[name]))
            for name, net in self.tables.items()
        ]
        try:
            with GlobalBatch(self.local_batch, self.ranks):
                yield
        finally:
            for recorder in recorders:
                recorder.remove()
        with torch.no_grad():
            for name, net in self.tables.items():
                _copy_owned_rows(net, touched[name], self.ranks)

    def mean(self, scalars: dict[str, float]) -> dict[str, float]:
        """``scalars`` averaged over the ranks (each is a batch mean)."""
        if self.ranks.world == 1:
            return scalars
        names = sorted(scalars)
        values = [scalars[name] for name in names]
        total = torch.tensor(values, dtype=torch.float64, device=self.device)
        _collective(dist.all_reduce, total)
        return dict(zip(names, (total / self.ranks.world).tolist(), strict=True))

    @torch.no_grad()
    def _reduce_gradients(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        """Before ``optimizer`` steps: its gradients averaged over the ranks (summed
        for item tables), one all-reduce per kind and dtype."""
        buckets: dict[tuple[bool, torch.dtype], list[torch.nn.Parameter]] = {}
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:  # NCCL reduces dense tensors only
                    p.grad = p.grad.to_dense()
                buckets.setdefault((id(p) in self.summed, p.grad.dtype), []).append(p)
        for (summed, _), params in buckets.items():
            flat = torch.cat([p.grad.reshape(-1) for p in params])
            _collective(dist.all_reduce, flat)
            if not summed:
                flat /= self.ranks.world
            sizes = [p.grad.numel() for p in params]
            for p, part in zip(params, flat.split(sizes), strict=True):
                p.grad.copy_(part.view_as(p.grad))


class GlobalBatch(TorchFunctionMode):
    """Inside a training step of one rank: random draws of batch shape and
    BatchNorm statistics as one process computes them for the global batch (see the
    module docstring)."""

    def __init__(self, local_batch: int, ranks: Ranks) -> None:
        super().__init__()
        self.local_batch, self.ranks = local_batch, ranks

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = dict(kwargs or {})
        if func is F.batch_norm:
            return _batch_norm(*args, **kwargs)
        own = any(isinstance(a, torch.Generator) for a in (*args, *kwargs.values()))
        if own or func not in DRAWS:  # a seeded generator is the caller's own
            return func(*args, **kwargs)
        return DRAWS[func](self, func, args, kwargs)

    def batched(self, rows: int) -> bool:
        """Whether a leading dimension of ``rows`` is one of the local batch."""
        return rows > 0 and rows % self.local_batch == 0

    def mine(self, drawn: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a draw for the global batch."""
        rows = len(drawn) // self.ranks.world
        return drawn[self.ranks.rank * rows : (self.ranks.rank + 1) * rows]

    def sized(self, func: Any, args: tuple, kwargs: dict[str, Any]) -> torch.Tensor:
        """``randn``/``rand`` (size as ints or one sequence) and ``randint`` (size
        the last positional argument), by size."""
        if "size" in kwargs:
            size, rest = kwargs.pop("size"), args
        elif func is torch.randint:
            size, rest = args[-1], args[:-1]
        else:
            size = args[0] if len(args) == 1 and not isinstance(args[0], int) else args
            rest = ()
        size = tuple(size)
        if not size or not self.batched(size[0]):
            return func(*rest, size=size, **kwargs)
        return self.mine(
            func(*rest, size=(size[0] * self.ranks.world, *size[1:]), **kwargs)
        )

    def like(self, func: Any, args: tuple, kwargs: dict[str, Any]) -> torch.Tensor:
        """``randn_like``/``rand_like``: drawn like the global batch's tensor."""
        like = args[0]
        if like.dim() == 0 or not self.batched(len(like)):
            return func(*args, **kwargs)
        rows = len(like) * self.ranks.world
        return self.mine(
            func(like.new_empty(rows, *like.shape[1:]), *args[1:], **kwargs)
        )

    def rows(self, func: Any, args: tuple, kwargs: dict[str, Any]) -> torch.Tensor:
        """``multinomial`` of a batch of distributions: those of every rank."""
        probs = args[0]
        if probs.dim() != 2 or not self.batched(len(probs)):
            return func(*args, **kwargs)
        shares = [torch.empty_like(probs) for _ in range(self.ranks.world)]
        _collective(dist.all_gather, shares, probs.contiguous())
        return self.mine(func(torch.cat(shares), *args[1:], **kwargs))


#: the global-RNG draws :class:`GlobalBatch` splits, by how their size is given
DRAWS = {
    torch.randn: GlobalBatch.sized,
    torch.rand: GlobalBatch.sized,
    torch.randint: GlobalBatch.sized,
    torch.randn_like: GlobalBatch.like,
    torch.rand_like: GlobalBatch.like,
    torch.multinomial: GlobalBatch.rows,
    torch.Tensor.multinomial: GlobalBatch.rows,
}

_BATCH_NORM = inspect.signature(F.batch_norm)


def _batch_norm(*args: Any, **kwargs: Any) -> torch.Tensor:
    """``F.batch_norm`` with the global batch's statistics in training mode."""
    a = _BATCH_NORM.bind(*args, **kwargs)
    a.apply_defaults()
    x, mean_r, var_r, weight, bias, training, momentum, eps = a.arguments.values()
    if not training:  # running statistics: nothing couples the ranks
        return F.batch_norm(*args, **kwargs)
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    data = x.float()
    count = data.new_tensor([x.numel() // x.shape[1]])
    total = _Summed.apply(torch.cat([data.sum(dims), count]))
    n = total[-1]
    centred = data - (total[:-1] / n).view(shape)
    var = _Summed.apply(centred.square().sum(dims)) / n
    out = centred * (var + eps).rsqrt().view(shape)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    if mean_r is not None:
        with torch.no_grad():  # as F.batch_norm: the unbiased variance
            mean_r.lerp_(total[:-1] / n, momentum)
            var_r.lerp_(var * n / (n - 1), momentum)
    return out.to(x.dtype)


class _Summed(torch.autograd.Function):
    """A tensor summed over the ranks; its gradient too (each rank's loss depends on
    every rank's share through the sum)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        _collective(dist.all_reduce, total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        total = grad.contiguous().clone()
        _collective(dist.all_reduce, total)
        return total


def _recorder(touched: list[torch.Tensor]) -> Any:
    """A forward pre-hook keeping the rows an item table is looked up with."""

    def record(module: torch.nn.Module, args: tuple) -> None:
        touched.append(torch.as_tensor(args[0]).reshape(-1))

    return record


def _copy_owned_rows(
    net: torch.nn.Module, touched: list[torch.Tensor], ranks: Ranks
) -> None:
    """Every row of ``net`` that some rank looked up takes the values of the lowest
    such rank (all of them hold the same values there); every tensor of ``net`` has
    one row per item."""
    tensors = [*net.parameters(), *net.buffers()]
    device = tensors[0].device
    owner = torch.full((len(tensors[0]),), ranks.world, device=device)
    for index in touched:
        owner[index.to(device).long()] = ranks.rank
    _collective(dist.all_reduce, owner, dist.ReduceOp.MIN)
    rows = (owner < ranks.world).nonzero()[:, 0]
    mine = owner[rows] == ranks.rank
    for tensor in tensors:
        values = tensor.data[rows]
        keep = mine.view(-1, *[1] * (values.dim() - 1))
        owned = torch.where(keep, values, torch.zeros_like(values)).to(torch.float64)
        _collective(dist.all_reduce, owned)  # x + 0 + ... + 0: exactly x
        tensor.data[rows] = owned.to(tensor.dtype)


def _join(device: torch.device) -> None:
    """Join the default process group once per process (see the module
    docstring); left at the process's exit."""
    if dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=TIMEOUT, device_id=device)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)
    atexit.register(dist.destroy_process_group)


def _collective(collective: Any, *args: Any) -> None:
    """Run ``collective``; its failure as :class:`PeerFailed`."""
    try:
        collective(*args)
    except RuntimeError as error:  # gloo: RuntimeError; NCCL: DistBackendError
        raise PeerFailed(
            f"rank {dist.get_rank()} of {dist.get_world_size()}: "
            f"{collective.__name__} across the ranks failed ({error}): another rank "
            f"stopped, hung past the {TIMEOUT.total_seconds():.0f} s timeout, or took "
            "another path"
        ) from error
