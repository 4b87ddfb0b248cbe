"""The one training loop of the book: :func:`fit`.

``fit`` owns everything that is not a paper's update rule: seeds, device, optional
bf16 autocast, the data order, a progress bar, a JSONL scalar log, periodic sample
grids (``sample_every=0``: none, for a Method that generates nothing, such as the
judges' classifiers), atomic checkpoints, exact resume and ``skip_if_done``. The
update rule of a paper lives in its ``Method.train_step``.

Seeds: a run that starts at step 0 draws its initial weights from its seed, however
the Method was built, then reseeds, so the seed alone fixes the run.

Exact resume: the data order is a pure function of ``(seed, step)`` and every global
RNG state is checkpointed, so a run interrupted after a checkpoint and resumed
produces bit-identical weights to an uninterrupted run on the CPU
(``tests/test_train.py`` checks it).

Several processes: under ``torchrun --nproc-per-node N`` the same ``fit`` trains
with N ranks, each on its share of the global batch (:mod:`vidlib.distributed`: the
gradients averaged, random draws and BatchNorm statistics those of the global batch),
and rank 0 alone writes. The world size is not part of the config hash: a checkpoint
written with any number of ranks resumes with any other.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from vidlib import __version__, viz
from vidlib import checkpoint as ckpt
from vidlib.distributed import PeerFailed, Ranks, Replicas
from vidlib.method import Method, sample

#: TrainConfig fields that change what is computed, hence the config hash.
HASHED_TRAIN_FIELDS = ("batch_size", "seed", "bf16")


class NonFiniteLossError(FloatingPointError):
    """A training scalar became NaN or infinite."""


@dataclass
class TrainConfig:
    """How to run :func:`fit`. Only ``HASHED_TRAIN_FIELDS`` enter the config hash."""

    out_dir: str
    steps: int
    batch_size: int
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA if present), "cpu", "cuda", "cuda:1", ...
    bf16: bool = False  # bf16 autocast around train_step
    compile: bool = False  # torch.compile the nets in place (compile_nets)
    channels_last: bool = False  # every conv channels-last (to_channels_last)
    checkpoint_every: int = 500
    keep_checkpoints: int = 2  # the newest k; 0 keeps every checkpoint
    log_every: int = 10
    sample_every: int = 500  # 0: never (for a Method that generates nothing)
    num_samples: int = 8
    num_workers: int = 0
    num_threads: int = 0  # > 0: torch.set_num_threads for this process; 0 keeps it
    skip_if_done: bool = True
    resume: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"TrainConfig.{name} must be a positive int, got {value!r}"
                )
        if not isinstance(self.keep_checkpoints, int) or self.keep_checkpoints < 0:
            raise ValueError(
                "TrainConfig.keep_checkpoints must be an int >= 0 (0: keep every "
                f"checkpoint), got {self.keep_checkpoints!r}"
            )
        if not isinstance(self.sample_every, int) or self.sample_every < 0:
            raise ValueError(
                "TrainConfig.sample_every must be an int >= 0 (0: never sample), "
                f"got {self.sample_every!r}"
            )
        if self.num_threads < 0:
            raise ValueError(
                f"TrainConfig.num_threads must be >= 0, got {self.num_threads!r}"
            )


@dataclass
class FitResult:
    """What :func:`fit` did and where its outputs are."""

    status: str  # "trained", "resumed", "loaded" (skip_if_done) or "stopped" (stop_at)
    step: int
    out_dir: Path
    checkpoint: Path
    config_hash: str
    wall_time_s: float  # training time summed over every session of this run
    scalars: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the global state other code draws from)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but CUDA is not available")
    return device


def run_config(method: Method, data: Dataset, cfg: TrainConfig) -> dict[str, Any]:
    """Everything that determines the trained weights (primitives only)."""
    train = {name: getattr(cfg, name) for name in HASHED_TRAIN_FIELDS}
    return {
        "method": method.config,
        "data": getattr(data, "config", {}),
        "train": train,
    }


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """Dataset indices of the batch at ``step``: epochs of seeded permutations."""
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise ValueError(
            f"dataset of {n} items is smaller than batch_size {batch_size}"
        )
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(
        n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)
    )
    return order[position * batch_size : (position + 1) * batch_size].tolist()


class StepBatchSampler:
    """Yields :func:`batch_indices` for steps ``start, start + 1, ...`` (no end):
    this rank's share of each (all of it in one process)."""

    def __init__(
        self, n: int, batch_size: int, seed: int, start: int, ranks: Ranks | None = None
    ) -> None:
        self.n, self.batch_size, self.seed, self.start = n, batch_size, seed, start
        self.ranks = ranks or Ranks()

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start
        while True:
            indices = batch_indices(self.n, self.batch_size, self.seed, step)
            yield self.ranks.share(indices)
            step += 1


def draw_initial_weights(method: Method, seed: int) -> None:
    """Give ``method`` the weights (and fresh optimiser states) ``seed`` draws: a
    Method of its class and ``cfg`` built right after :func:`seed_everything`, the
    resources it ``needs`` (AVLAE's flow estimator) shared, copied in. So a run's
    seed fixes its initial weights however the Method was built. A Method without
    ``cfg`` (the judges' and the flow estimator's trainers) keeps its own weights:
    their callers seed before building."""
    cfg = getattr(method, "cfg", None)
    if cfg is None:
        return
    needs = {name: getattr(method, name) for name in getattr(method, "needs", ())}
    seed_everything(seed)
    drawn = type(method)(cfg, **needs)
    for name, net in method.nets.items():
        net.load_state_dict(drawn.nets[name].state_dict())
    for name, opt in method.opts.items():
        opt.load_state_dict(drawn.opts[name].state_dict())


#: the channels-last memory format of each conv kind
CHANNELS_LAST = {
    nn.Conv2d: torch.channels_last,
    nn.ConvTranspose2d: torch.channels_last,
    nn.Conv3d: torch.channels_last_3d,
    nn.ConvTranspose3d: torch.channels_last_3d,
}


def to_channels_last(method: Method) -> bool:
    """Every conv of ``method``'s nets, in place, in the channels-last format of its
    rank; whether one is 3-D (then ``fit`` passes the clips in ``channels_last_3d``,
    :func:`channels_last_clips`). Conv by conv: one format for a whole net fails on
    a net that holds both ranks (TGAN's D, G3AN's G). The same numbers up to float
    rounding, so ``train.channels_last`` is not part of the config hash."""
    has_3d = False
    for net in method.nets.values():
        for module in net.modules():
            for kind, memory_format in CHANNELS_LAST.items():
                if isinstance(module, kind):
                    module.to(memory_format=memory_format)
                    has_3d |= memory_format == torch.channels_last_3d
    return has_3d


def channels_last_clips(batch: Any) -> Any:
    """``batch`` with its clips ``video`` in ``channels_last_3d``, also those of the
    batches it nests (mixed images and videos: ``{"videos": ..., "images": ...}``)."""
    if not isinstance(batch, dict):
        return batch
    return {
        key: value.contiguous(memory_format=torch.channels_last_3d)
        if key == "video" and isinstance(value, torch.Tensor) and value.dim() == 5
        else channels_last_clips(value)
        for key, value in batch.items()
    }


def fuse_adam(method: Method) -> list[str]:
    """Every Adam (or AdamW) of ``method`` stepping with torch's fused kernel, one
    launch for all its parameters instead of a few per tensor; return their names.
    ``fit`` does this on CUDA, after restoring a checkpoint (whose optimiser state
    brings the settings it was saved with). A fused Adam keeps its step counters as
    float32 tensors beside the parameters, so existing counters move there."""
    fused = []
    for name, opt in method.opts.items():
        if type(opt) not in (torch.optim.Adam, torch.optim.AdamW):
            continue
        for group in opt.param_groups:
            group["fused"], group["foreach"] = True, None  # both True is refused
            for p in group["params"]:
                state = opt.state.get(p, {})
                if "step" in state:
                    step = torch.as_tensor(state["step"], dtype=torch.float32)
                    state["step"] = step.to(p.device)
        fused.append(name)
    return fused


def compile_nets(method: Method) -> list[str]:
    """Compile the nets of ``method`` in place (``nn.Module.compile``: the same
    parameters and state-dict keys, so checkpoints load either way) and return their
    names. A Method with R1 (``cfg.r1_gamma`` > 0) keeps all but its generator-side
    nets (``G``, ``G_ema``) eager: R1 differentiates the discriminator side twice,
    which compiled graphs cannot. Where PyTorch cannot compile (no TorchDynamo for
    this Python, or no C++ compiler for a CPU), warn and compile nothing."""
    import torch._dynamo  # imported on use: it is slow to import

    cannot = None
    if not torch._dynamo.is_dynamo_supported():
        cannot = f"TorchDynamo does not support Python {sys.version.split()[0]}"
    elif not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        cannot = "no C++ compiler (g++, c++ or clang++) is on PATH"
    if cannot is not None:
        warnings.warn(f"train.compile: {cannot}; training eagerly", stacklevel=2)
        return []
    r1 = getattr(getattr(method, "cfg", None), "r1_gamma", 0) > 0
    names = [name for name in method.nets if not r1 or name.startswith("G")]
    for name in names:
        method.nets[name].compile()
    return names


def fit(
    method: Method,
    data: Dataset,
    cfg: TrainConfig,
    *,
    keep_weights: bool = False,
    stop_at: float | None = None,
) -> FitResult:
    """Train ``method`` on ``data`` for ``cfg.steps`` steps (see module docstring).

    A run that starts at step 0 starts from the weights ``cfg.seed`` draws
    (:func:`draw_initial_weights`), or with ``keep_weights`` from the Method's own
    (fine-tuning). With ``stop_at`` (a :func:`time.perf_counter` time), the first
    step that ends after it is checkpointed and training stops there ("stopped"), to
    resume later as any interrupted run does (one process only: ranks' clocks could
    disagree on the step). Started by torchrun, each rank trains its share of every
    batch; a rank that stops makes the others raise
    :class:`~vidlib.distributed.PeerFailed`.
    """
    ranks = Ranks.from_env()
    if stop_at is not None and ranks.world > 1:
        raise ValueError(f"stop_at stops one process; this run has {ranks.world}")
    ranks.check(cfg.batch_size, data)
    out_dir = Path(cfg.out_dir)
    ckpt_dir = out_dir / "checkpoints"
    config = run_config(method, data, cfg)
    chash = ckpt.config_hash(config)
    device = ranks.local_device(resolve_device(cfg.device))
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    for net in method.nets.values():
        net.to(device)
    clips_3d = cfg.channels_last and to_channels_last(method)
    if cfg.compile:
        compile_nets(method)

    if ranks.main:
        ckpt.remove_unfinished(ckpt_dir)
    latest = _latest_matching_checkpoint(ckpt_dir, config, chash, cfg.steps, method)
    done = latest is not None and latest[0] == cfg.steps
    if done and cfg.skip_if_done:
        _, wall, _ = _restore(method, latest[1], device)
        scalars = read_scalars(out_dir)
        return FitResult("loaded", cfg.steps, out_dir, latest[1], chash, wall, scalars)
    if latest is not None and not done and cfg.resume:
        start, wall_before, devices = _restore(method, latest[1], device)
        status = "resumed"
    else:
        start, wall_before, devices, status = 0, 0.0, [], "trained"
        if not keep_weights:
            draw_initial_weights(method, cfg.seed)
        seed_everything(cfg.seed)

    if ranks.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _truncate_scalars(out_dir, start)
        (out_dir / "run_config.json").write_text(
            json.dumps(config, indent=2, sort_keys=True)
        )
    if device.type == "cuda":
        fuse_adam(method)
    began = time.perf_counter() - wall_before
    step = start
    loader = DataLoader(
        data,
        batch_sampler=StepBatchSampler(
            len(data), cfg.batch_size, cfg.seed, start, ranks
        ),
        num_workers=cfg.num_workers,
        collate_fn=getattr(data, "collate_fn", None),  # e.g. MixedImagesVideos
        generator=torch.Generator(),  # keep the global RNG untouched by the loader
        pin_memory=device.type == "cuda",
    )
    batches = iter(loader)
    shown = cfg.progress and ranks.main
    bar = tqdm(total=cfg.steps, initial=start, disable=not shown, desc="train")
    with (
        _naming_the_checkpoint(ckpt_dir),
        bar,
        Replicas(ranks, method, cfg.batch_size, device) as replicas,
        _scalar_log(out_dir, ranks.main) as log,
    ):
        while step < cfg.steps:
            batch = _to_device(next(batches), device)
            if clips_3d:
                batch = channels_last_clips(batch)
            bf16 = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
            with replicas.step(), bf16:
                scalars = method.train_step(batch, step)
            scalars = replicas.mean(scalars)
            step += 1
            _check_finite(scalars, step, ckpt_dir)
            if not ranks.main:
                continue  # rank 0 alone writes the log, the samples and checkpoints
            if step % cfg.log_every == 0 or step == cfg.steps:
                log.write(json.dumps({"step": step, **scalars}) + "\n")
                log.flush()
                bar.set_postfix({k: f"{v:.3g}" for k, v in scalars.items()})
            if cfg.sample_every and (step % cfg.sample_every == 0 or step == cfg.steps):
                save_samples(
                    method, out_dir / "samples", step, cfg.num_samples, cfg.seed
                )
            stopping = stop_at is not None and time.perf_counter() >= stop_at
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or stopping:
                wall = time.perf_counter() - began
                _save(
                    method,
                    ckpt_dir,
                    step,
                    config,
                    chash,
                    scalars,
                    wall,
                    cfg.keep_checkpoints,
                    devices,
                    start,
                )
            bar.update(1)
            if stopping and step < cfg.steps:
                status = "stopped"
                break
    wall = time.perf_counter() - began
    path = ckpt.checkpoint_path(ckpt_dir, step)
    return FitResult(status, step, out_dir, path, chash, wall, read_scalars(out_dir))


def save_samples(method: Method, directory: Path, step: int, n: int, seed: int) -> Path:
    """Sample grid (PNG filmstrip + GIF) from fixed codes; global RNG untouched."""
    videos = sample(method, n, seed)
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"step-{step:08d}"
    viz.save_png(viz.filmstrip(videos), stem.with_suffix(".png"))
    viz.save_gif(videos, stem.with_suffix(".gif"))
    return stem.with_suffix(".png")


def read_scalars(out_dir: Path) -> list[dict[str, float]]:
    """The JSONL scalar log of a run as a list of dicts."""
    path = Path(out_dir) / "scalars.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _to_device(batch: Any, device: torch.device) -> Any:
    """Tensors in ``batch`` (nested dicts, lists and tuples too, as ``collate_mixed``
    and the RNG states make) on ``device``."""
    if torch.is_tensor(batch):
        # asynchronous only to a GPU: a copy to the CPU must be complete when read
        return batch.to(device, non_blocking=device.type == "cuda")
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if type(batch) in (list, tuple):
        return type(batch)(_to_device(value, device) for value in batch)
    return batch


def _kept(ckpt_dir: Path) -> str:
    kept = ckpt.list_checkpoints(ckpt_dir)
    return f"the checkpoint at step {kept[-1][0]} is kept" if kept else "no checkpoint"


def _check_finite(scalars: dict[str, float], step: int, ckpt_dir: Path) -> None:
    bad = {k: v for k, v in scalars.items() if not math.isfinite(v)}
    if bad:
        raise NonFiniteLossError(
            f"training diverged at step {step}: {bad} is not finite; "
            f"{_kept(ckpt_dir)}. "
            "Lower the learning rates, or disable bf16, then rerun to resume."
        )


@contextmanager
def _naming_the_checkpoint(ckpt_dir: Path) -> Iterator[None]:
    """A failed collective's PeerFailed, noting the checkpoint a rerun resumes."""
    try:
        yield
    except PeerFailed as error:
        error.add_note(
            f"{_kept(ckpt_dir)} in {ckpt_dir}: rerun the same command to resume"
        )
        raise


def _scalar_log(out_dir: Path, writes: bool) -> AbstractContextManager:
    """The JSONL scalar log, opened to append where this rank ``writes``."""
    return (out_dir / "scalars.jsonl").open("a") if writes else nullcontext()


def _save(
    method: Method,
    ckpt_dir: Path,
    step: int,
    config: dict[str, Any],
    chash: str,
    scalars: dict[str, float],
    wall_time_s: float,
    keep: int,
    devices: list[list[Any]],
    start: int,
) -> None:
    """Checkpoint ``step``; ``devices`` is the history of the checkpoint this session
    resumed from at ``start`` (:func:`device_history`), extended by this session."""
    where = next(p for net in method.nets.values() for p in net.parameters()).device
    here = torch.cuda.get_device_name(where) if where.type == "cuda" else "cpu"
    payload = {
        "nets": {name: net.state_dict() for name, net in method.nets.items()},
        "opts": {name: opt.state_dict() for name, opt in method.opts.items()},
        "config": config,
        "config_hash": chash,
        "step": step,
        "wall_time_s": wall_time_s,
        # where the weights were trained (a reference run names it: vidlib.committed)
        "device": here,
        "devices": _extended(devices, here, step - start),
        "rng": ckpt.rng_state(),
        "metrics": dict(scalars),
        "versions": {
            "vidlib": __version__,
            "torch": str(torch.__version__),
            "numpy": np.__version__,
        },
    }
    ckpt.save_checkpoint(ckpt.checkpoint_path(ckpt_dir, step), payload)
    if keep > 0:
        for _, old in ckpt.list_checkpoints(ckpt_dir)[:-keep]:
            old.unlink()


def checkpoint_config(
    stored: dict[str, Any], config: dict[str, Any], method: Method
) -> dict[str, Any]:
    """A checkpoint's ``stored`` run config with each model setting that it lacks
    and that ``config`` sets to the setting's default filled in: a switch added to
    the code after the checkpoint was written, whose default is the behaviour the
    checkpoint trained with (as :func:`vidlib.record.added_since` for a committed
    reference). Compare its :func:`~vidlib.checkpoint.config_hash` with the run's."""
    cfg = getattr(method, "cfg", None)
    if not is_dataclass(cfg):
        return stored
    # the declared defaults, not an instance: a config may refuse its own defaults
    # (NAVS's table sizes, which the data fills in)
    defaults = {f.name: f.default for f in fields(cfg) if f.default is not MISSING}
    had = stored.get("method", {})
    added = {
        key: value
        for key, value in config["method"].items()
        if key not in had and key in defaults and defaults[key] == value
    }
    return {**stored, "method": {**had, **added}} if added else stored


def _latest_matching_checkpoint(
    ckpt_dir: Path,
    config: dict[str, Any],
    chash: str,
    steps: int,
    method: Method,
) -> tuple[int, Path] | None:
    """The newest usable checkpoint, or an error if the folder holds another run."""
    found = ckpt.list_checkpoints(ckpt_dir)
    if not found:
        return None
    step, path = found[-1]
    payload = ckpt.load_checkpoint(path)
    stored = checkpoint_config(payload["config"], config, method)
    if ckpt.config_hash(stored) != chash:
        differences = _differences(stored, config)
        model = [line for line in differences if line.startswith("method.model:")]
        differences = model or differences  # another model differs in every key
        raise ckpt.CheckpointError(
            f"{ckpt_dir} holds checkpoints of a different run "
            f"({'; '.join(differences)}). "
            "Nothing was overwritten: use another out_dir, or remove that folder to "
            "start over."
        )
    if step > steps:
        raise ckpt.CheckpointError(
            f"{ckpt_dir} already holds a run trained to step {step} > steps={steps}; "
            "ask for steps >= that, or use another out_dir."
        )
    return step, path


def device_history(payload: dict[str, Any]) -> list[list[Any]]:
    """``[[device, steps], ...]``: how many steps of a checkpoint's training ran on
    which device, in order (a run resumed on another machine has several). A
    checkpoint written before checkpoints kept this counts all its steps on its
    ``device`` (``"unrecorded"`` if it names none)."""
    if "devices" in payload:
        return [list(entry) for entry in payload["devices"]]
    return [[payload.get("device", "unrecorded"), int(payload["step"])]]


def _extended(history: list[list[Any]], device: str, steps: int) -> list[list[Any]]:
    """``history`` with ``steps`` more on ``device`` (merged into its last entry
    when the device is the same)."""
    if steps == 0:
        return history
    if history and history[-1][0] == device:
        return [*history[:-1], [device, history[-1][1] + steps]]
    return [*history, [device, steps]]


def _restore(
    method: Method, path: Path, device: torch.device
) -> tuple[int, float, list[list[Any]]]:
    """Load nets, optimisers and RNG states; returns (step, training time so far,
    :func:`device_history`)."""
    payload = ckpt.load_checkpoint(path, map_location=device)
    ckpt.check_same_keys("nets", payload["nets"], method.nets, path)
    ckpt.check_same_keys("opts", payload["opts"], method.opts, path)
    written = payload.get("versions", {}).get("vidlib", "before 0.1.0")
    for name, net in method.nets.items():
        ckpt.load_state(net, payload["nets"][name], path, name, written)
    for name, opt in method.opts.items():
        opt.load_state_dict(payload["opts"][name])
    # every RNG state on the CPU, numpy's too: map_location put them on device
    ckpt.set_rng_state(_to_device(payload["rng"], torch.device("cpu")))
    step = int(payload["step"])
    return step, float(payload.get("wall_time_s", 0.0)), device_history(payload)


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            found += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    if old != new:
        return [f"{prefix.rstrip('.')}: checkpoint {old!r}, now {new!r}"]
    return []


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _truncate_scalars(out_dir: Path, step: int) -> None:
    """Drop log lines past ``step`` so a resumed run does not repeat them, and the
    last line when a killed run left it half written."""
    path = out_dir / "scalars.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    if lines and not _is_json(lines[-1]):
        lines.pop()  # cut off by a kill
    rows = [json.loads(line) for line in lines if line]
    rows = [row for row in rows if row["step"] <= step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tmp.replace(path)
